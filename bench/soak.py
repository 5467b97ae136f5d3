"""Soak: many requests of mixed features from several clients against one `rosto serve` worker.

Reports the server's memory over the run (RSS sampled every half second, and its peak), the
latency drift (median of the first and of the last tenth of the requests), the errors, and
whether the token's usage count equals the successful requests. The mix: the 640×480
portrait, a group photo (the largest group photo of ../shared/data when present, else the two
test portraits side by side), and every 50th request a 24-megapixel JPEG; features drawn from
bounds, all, and small sets. A seeded tenth of the requests are malformed probes
(tests/corpus.py), which must get 4xx and not count as uses.

    python -m bench.soak [--requests 10000] [--clients 4] [--write README.md]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from bench.accuracy import write_section
from bench.latency import TESTS, portrait

sys.path.insert(0, str(TESTS))
from conftest import SHARED_DATA, encode, load_astronaut, load_grace_hopper  # noqa: E402
from corpus import corpus  # noqa: E402
from serving import ENV, Server, rosto  # noqa: E402

FEATURE_SETS = ["bounds", "all", "age,gender", "emotion,smile", "landmarks,pose", "hair",
                "glasses,quality", "ethnicity"]  # fmt: skip
LARGE_EVERY = 50
PROBE_SHARE = 0.1


def memory_mb(pid: int) -> dict[str, float]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


def group_photo() -> bytes:
    folder = SHARED_DATA / "groups"
    if folder.is_dir():
        photos = sorted(folder.glob("*.jpg"), key=lambda p: -p.stat().st_size)
        if photos:
            return photos[0].read_bytes()
    left, right = load_astronaut(), load_grace_hopper()[:512, :512]
    return encode(np.concatenate([left, right], axis=1))


def large_photo() -> bytes:
    """24 megapixels (6000×4000) under the 4 MiB limit: the astronaut scaled up."""
    buf = io.BytesIO()
    Image.fromarray(load_astronaut()).resize((6000, 4000), Image.BILINEAR).save(
        buf, "JPEG", quality=70
    )
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--write", type=Path, help="update the soak section of this file")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    photos = {"portrait": encode(portrait()), "group": group_photo(), "24 MP": large_photo()}
    with tempfile.TemporaryDirectory() as data_dir:
        token = rosto("tokens", "--data-dir", data_dir, "create", "--name", "soak").split()[-1]
        probes = [raw for _, raw in corpus(token, seed=args.seed)]
        plan = []
        for index in range(args.requests):
            if rng.random() < PROBE_SHARE:
                plan.append(("probe", rng.choice(probes)))
            else:
                photo = "24 MP" if index % LARGE_EVERY == LARGE_EVERY - 1 else (
                    rng.choice(["portrait", "group"]))
                plan.append((photo, rng.choice(FEATURE_SETS)))
        env = {**ENV, "ROSTO_MODEL_THREADS": "2"}
        server = Server(Path(data_dir), env=env)
        try:
            result = soak(server, token, plan, photos, args.clients)
            listing = rosto("tokens", "--data-dir", data_dir, "list")
        finally:
            server.close()
    (uses,) = [int(line.split()[-3]) for line in listing.splitlines() if line.endswith("soak")]
    rows = report(result, uses, args)
    print(rows)
    analyses = result["outcomes"]["ok"] + result["outcomes"]["probe 200"]
    if uses != analyses:
        sys.exit(f"the usage count {uses} differs from the {analyses} successful analyses")
    if args.write:
        write_section(args.write, "bench:soak", rows)


def soak(server: Server, token: str, plan: list, photos: dict[str, bytes], clients: int) -> dict:
    import socket

    host, port = server.url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[tuple[int, float]] = []  # (plan index, seconds) of the good requests
    outcomes: Counter[str] = Counter()
    samples: list[float] = []
    pid = server.process.pid
    done = threading.Event()
    cursor = iter(range(len(plan)))
    lock = threading.Lock()

    def sample() -> None:
        while not done.is_set():
            samples.append(memory_mb(pid)["VmRSS"])
            time.sleep(0.5)

    def probe(raw: bytes) -> int:
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.sendall(raw)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return int(answer.split(b" ", 2)[1]) if answer else 0

    def client() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                kind, detail = plan[index]
                start = time.perf_counter()
                if kind == "probe":
                    status = probe(detail)
                    if status == 200:  # a valid image among the probes: a use like any other
                        outcomes["probe 200"] += 1
                    elif 300 <= status < 500:
                        outcomes["probe 4xx"] += 1
                    else:
                        outcomes[f"probe {status}"] += 1
                    continue
                reply = session.post(
                    f"{server.url}/api/v1/features",
                    headers=headers,
                    data={"features": detail},
                    files={"image": photos[kind]},
                    timeout=120,
                )
                if reply.status_code == 200:
                    latencies.append((index, time.perf_counter() - start))
                    outcomes["ok"] += 1
                else:
                    outcomes[f"HTTP {reply.status_code}"] += 1

    before = memory_mb(pid)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    done.set()
    after = memory_mb(pid)
    return {"before": before, "after": after, "samples": samples, "latencies": latencies,
            "outcomes": outcomes, "seconds": elapsed, "plan": plan}  # fmt: skip


def report(result: dict, uses: int, args: argparse.Namespace) -> str:
    latencies = sorted(result["latencies"])
    tenth = max(1, len(latencies) // 10)
    first = statistics.median(s for _, s in latencies[:tenth]) * 1000
    last = statistics.median(s for _, s in latencies[-tenth:]) * 1000
    outcomes = result["outcomes"]
    good = sum(1 for kind, _ in result["plan"] if kind != "probe")
    samples = result["samples"]
    errors = sum(n for k, n in outcomes.items() if k not in ("ok", "probe 200", "probe 4xx"))
    analyses = outcomes["ok"] + outcomes["probe 200"]
    rows = [
        f"| requests | {len(result['plan'])} ({good} analyses, "
        f"{len(result['plan']) - good} malformed probes), {args.clients} clients, "
        f"{result['seconds']:.0f} s |",
        f"| errors | {errors} ({dict(outcomes)}) |",
        f"| usage count of the token | {uses} (successful analyses: {analyses}) |",
        f"| median latency, first → last tenth | {first:.0f} ms → {last:.0f} ms |",
        f"| server RSS: start, median, end | {result['before']['VmRSS']:.0f} MB, "
        f"{statistics.median(samples):.0f} MB, {result['after']['VmRSS']:.0f} MB |",
        f"| server RSS peak (VmHWM) | {result['after']['VmHWM']:.0f} MB |",
    ]
    return "\n".join(["| measure | value |", "|---|---|", *rows])


if __name__ == "__main__":
    main()
