"""`rosto serve` in a subprocess on a free port: for the end-to-end tests and the HTTP benchmark."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("ROSTO_")}
ENV["ROSTO_MODEL_THREADS"] = "1"  # the test machine's cores are shared


def rosto(*args: str) -> str:
    """Run the `rosto` command; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "rosto", *args],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class Server:
    """A `rosto serve` process on a free port, ready (detector loaded) once constructed."""

    def __init__(self, data_dir: Path, *flags: str, env: dict[str, str] | None = None):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = data_dir / f"serve-{port}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rosto",
                    "serve",
                    "--data-dir",
                    str(data_dir),
                    "--port",
                    str(port),
                    *flags,
                ],
                cwd=REPO,
                env=ENV if env is None else env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"rosto serve did not get ready; its log:\n{self.log()}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def log(self) -> str:
        return self.log_path.read_text()

    def post(self, **kwargs) -> requests.Response:
        return requests.post(f"{self.url}/api/v1/features", timeout=60, **kwargs)

    def model_runs(self) -> Counter[str]:
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        pattern = r'^rosto_model_runs_total\{model="([^"]+)"\} (\S+)$'
        return Counter({m[1]: float(m[2]) for m in re.finditer(pattern, text, re.MULTILINE)})

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
