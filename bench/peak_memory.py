"""Peak memory of one `rosto serve` worker for single large uploads, one fresh server per case.

Each server first answers the 640×480 portrait with every feature (so every model is loaded),
then one upload of ``features=all``; the table gives its RSS then and its peak (VmHWM) after.
The cases are the worst the defaults admit: 24 MP with a face, 24 MP and 40 MP (the default
``--max-pixels``) without one, where detection has to look everywhere and retry.

    python -m bench.peak_memory [--write README.md]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

from PIL import Image

from bench.accuracy import write_section
from bench.latency import portrait
from bench.soak import ENV, Server, encode, large_photo, memory_mb, rosto


def faceless(width: int, height: int, fmt: str) -> bytes:
    """A grey ramp of width × height: no face, and small enough to upload."""
    buf = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(buf, fmt)
    return buf.getvalue()


def peak(data: bytes) -> tuple[float, float]:
    """RSS with every model loaded, and the peak after one upload of ``data``, in MB."""
    with tempfile.TemporaryDirectory() as folder:
        token = rosto("tokens", "--data-dir", folder, "create").split()[-1]
        server = Server(Path(folder), env={**ENV, "ROSTO_MODEL_THREADS": "2"})
        try:
            headers = {"Authorization": f"Bearer {token}"}
            server.post(headers=headers, files={"image": encode(portrait())})
            warm = memory_mb(server.process.pid)["VmRSS"]
            answer = server.post(headers=headers, files={"image": data}, data={"features": "all"})
            assert answer.status_code == 200, answer.text
            return warm, memory_mb(server.process.pid)["VmHWM"]
        finally:
            server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="update the peak-memory section of this file")
    args = parser.parse_args()
    cases = {
        "a 24 MP photo with a face": large_photo(),
        "a 24 MP image without a face": faceless(6000, 4000, "JPEG"),
        "a 40 MP image without a face (the default `--max-pixels`)": faceless(8000, 5000, "PNG"),
    }
    rows = ["| upload | RSS, every model loaded | peak RSS |", "|---|---|---|"]
    for name, data in cases.items():
        warm, top = peak(data)
        rows.append(f"| {name} | {warm:.0f} MB | {top:.0f} MB |")
        print(rows[-1], flush=True)
    if args.write:
        write_section(args.write, "bench:peak_memory", "\n".join(rows))


if __name__ == "__main__":
    main()
