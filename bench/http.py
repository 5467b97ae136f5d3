"""The service under load: cold start, requests/s with concurrent clients, peak memory.

Starts `rosto serve` (one worker, models on 2 threads) in a subprocess on a free port, then:
cold start = process start → first 200 answer to a bounds request; throughput = 4 client
threads posting the 640×480 portrait for a fixed time, bounds-only and then all features;
peak RSS = the server's VmHWM at the end.

    python -m bench.http [--seconds 10] [--clients 4] [--write MODELS.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.accuracy import write_section
from bench.latency import TESTS, portrait

sys.path.insert(0, str(TESTS))
from conftest import encode  # noqa: E402
from serving import ENV, Server, rosto  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(server: Server, token: str, features: str, clients: int, seconds: float):
    """Requests/s and median latency (ms) of ``clients`` threads posting for ``seconds``."""
    photo = encode(portrait())
    headers = {"Authorization": f'Token token="{token}"'}
    latencies: list[float] = []
    failures: list[int] = []
    stop = time.monotonic() + seconds

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < stop:
                start = time.perf_counter()
                reply = session.post(
                    f"{server.url}/api/v1/features",
                    headers=headers,
                    data={"features": features},
                    files={"image": photo},
                )
                if reply.status_code == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    failures.append(reply.status_code)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit(f"{len(failures)} requests failed: {sorted(set(failures))}")
    return len(latencies) / seconds, statistics.median(latencies) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--write", type=Path, help="update the HTTP section of this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        token = rosto("tokens", "--data-dir", data_dir, "create").split()[-1]
        env = {**ENV, "ROSTO_MODEL_THREADS": "2"}
        start = time.perf_counter()
        server = Server(Path(data_dir), env=env)
        try:
            headers = {"Authorization": f"Token token={token}"}
            files = {"image": encode(portrait())}
            while (
                server.post(headers=headers, data={"features": "bounds"}, files=files).status_code
                != 200
            ):
                time.sleep(0.05)
            cold = time.perf_counter() - start
            rows = [f"| cold start to first answer | {cold:.2f} s |"]
            for features in ("bounds", "all"):
                rate, median = load(server, token, features, args.clients, args.seconds)
                rows.append(f"| {features}, {args.clients} clients | {rate:.1f} requests/s "
                            f"(median {median:.0f} ms) |")  # fmt: skip
            rows.append(f"| peak RSS of the server | {peak_rss_mb(server.process.pid):.0f} MB |")
        finally:
            server.close()
    result = "\n".join(["| measure | value |", "|---|---|", *rows])
    print(result)
    if args.write:
        write_section(args.write, "bench:http", result)


if __name__ == "__main__":
    main()
