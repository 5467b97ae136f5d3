"""Throughput of `rosto batch` on the same 500 photos: 1 process, all cores, and Ray local.

Photos: with the dev data present, its 30 group photos, 60 HELEN photos and the first 410
AFLW2000 faces (real photos of varied sizes, 1 to 15 faces); else 500 transformations of the
test photos (sizes, mirror, rotation, blur, brightness, collages of 2 to 5 faces), written once
to ~/.cache/rosto/bench-batch. Each run is the command a user types, with all features, in a
subprocess; /proc is sampled every 0.2 s for the CPU time and memory of every process below it.

- photos/s and faces/s: from the first record written to the last (the rate a long collection
  runs at); "wall" also counts starting the workers (and Ray) and loading the models;
- CPU use: CPU seconds of all the processes / (wall × cores); CPU s per photo: the CPU
  seconds of all the processes from the first record to the last / the photos in between — the
  figure that other load on the machine changes least;
- RSS per worker: the largest peak resident memory of one worker process (pool worker or Ray
  actor), shared libraries included; in brackets its PSS, which counts a page shared by n
  processes as 1/n: what each worker adds.

    python -m bench.batch [--photos 500] [--runs local1,local,ray] [--write README.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bench.accuracy import write_section

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rosto" / "bench-batch"
CORES = os.cpu_count() or 1
RUNS = {  # name → (label, extra arguments of `rosto batch`)
    "local1": ("1 process", ["--workers", "1"]),
    "local1t1": ("1 process, 1 ONNX thread", ["--workers", "1", "--model-threads", "1"]),
    "local": (f"{CORES} processes", ["--workers", str(CORES)]),
    "ray": (f"Ray local, {CORES} actors", ["--ray"]),
}
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def photo_list(count: int) -> tuple[str, Path]:
    """The name of the photo set and a list file of its ``count`` photos."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if DATA.is_dir():
        name = "dev photos (groups, HELEN, AFLW2000)"
        paths = [
            *sorted((DATA / "groups").glob("*.jpg")),
            *sorted((DATA / "landmarks_helen").glob("*.jpg")),
            *sorted((DATA / "pose").rglob("*.jpg")),
        ][:count]
    else:
        name = "transformed test photos"
        paths = _transformed(count)
    listing = CACHE / f"{'dev' if DATA.is_dir() else 'transformed'}-{count}.txt"
    listing.write_text("".join(f"{p}\n" for p in paths))
    return name, listing


def _transformed(count: int) -> list[Path]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import load_astronaut, load_grace_hopper
    from photos import blur, collage, mirror, rotate, scale_brightness

    folder = CACHE / "transformed"
    folder.mkdir(exist_ok=True)
    faces = [load_astronaut(), load_grace_hopper()]
    faces += [mirror(f) for f in faces]
    paths = []
    for i in range(count):
        path = folder / f"{i:04}.jpg"
        paths.append(path)
        if path.exists():
            continue
        face = faces[i % 4]
        kind = i % 5
        if kind == 0:
            image = rotate(face, (i % 7 - 3) * 10)
        elif kind == 1:
            image = blur(face, 1 + i % 3)
        elif kind == 2:
            image = scale_brightness(face, 0.5 + (i % 9) * 0.1)
        elif kind == 3:
            n = 2 + i % 4
            heights = [240 - 30 * k for k in range(n)]
            image = collage([faces[(i + k) % 4] for k in range(n)], heights)
        else:
            side = 320 + (i * 37) % 700
            image = cv2.resize(face, (side, side * face.shape[0] // face.shape[1]))
        cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    return paths


@dataclass
class Sampler:
    """CPU time and peak RSS of every process below ``root``, from /proc every ``interval`` s."""

    root: int
    interval: float = 0.2
    cpu: dict[tuple[int, str], float] = field(default_factory=dict)  # (pid, start) → seconds
    peak: dict[tuple[int, str], int] = field(default_factory=dict)  # → bytes resident
    peak_pss: dict[tuple[int, str], int] = field(default_factory=dict)  # → bytes, shared split
    worker: set[tuple[int, str]] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        parents = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = _read(f"/proc/{entry.name}/stat")
                if stat:
                    fields = stat.rsplit(")", 1)[1].split()
                    parents[int(entry.name)] = (int(fields[1]), fields)
        below = {self.root}
        for pid in sorted(parents):  # parents usually have smaller pids; repeat to be sure
            self._collect(pid, parents, below)
        for pid in list(parents):
            self._collect(pid, parents, below)
        for pid in below & parents.keys():
            fields = parents[pid][1]
            key = (pid, fields[19])  # the start time tells a reused pid apart
            self.cpu[key] = (int(fields[11]) + int(fields[12])) / _TICK
            rss = int(fields[21]) * _PAGE
            self.peak[key] = max(self.peak.get(key, 0), rss)
            command = _read(f"/proc/{pid}/cmdline").replace("\0", " ")
            if "multiprocessing.spawn" in command or command.startswith("ray::Analyser"):
                self.worker.add(key)
                pss = re.search(r"^Pss:\s+(\d+) kB", _read(f"/proc/{pid}/smaps_rollup"), re.M)
                if pss:
                    self.peak_pss[key] = max(self.peak_pss.get(key, 0), int(pss.group(1)) << 10)

    def total_cpu(self) -> float:
        return sum(self.cpu.values())

    @staticmethod
    def _collect(pid: int, parents: dict, below: set[int]) -> None:
        chain, current = [], pid
        while current in parents and current not in below and current > 1:
            chain.append(current)
            current = parents[current][0]
        if current in below:
            below.update(chain)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def measure(listing: Path, args: list[str]) -> dict:
    """One `rosto batch` run: photos, faces, rates, CPU use and per-worker memory."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jsonl"
        command = [sys.executable, "-m", "rosto", "batch", str(listing), "-o", str(out), *args]
        start = time.perf_counter()
        batch = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
        sampler = Sampler(batch.pid)
        threading.Thread(target=sampler.run, daemon=True).start()
        first = last = None
        written = 0
        while batch.poll() is None:
            time.sleep(0.05)
            now = time.perf_counter()
            count = out.read_bytes().count(b"\n") if out.exists() else 0
            if count and first is None:
                first, first_count, first_cpu = now, count, sampler.total_cpu()
            if count > written:
                written, last, last_cpu = count, now, sampler.total_cpu()
        wall = time.perf_counter() - start
        sampler.stop.set()
        if batch.returncode:
            sys.exit(f"{' '.join(command)} failed:\n{batch.stderr.read()}")
        records = [json.loads(line) for line in out.read_text().splitlines()]
    photos = len(records) - first_count
    faces = sum(len(r.get("faces", ())) for r in records[first_count:])
    steady = last - first
    workers = [sampler.peak[k] for k in sampler.worker] or [0]
    shared_out = [sampler.peak_pss[k] for k in sampler.worker if k in sampler.peak_pss] or [0]
    return {
        "photos": len(records),
        "faces": sum(len(r.get("faces", ())) for r in records),
        "errors": sum("error" in r for r in records),
        "wall_s": wall,
        "photos_per_s": photos / steady,
        "faces_per_s": faces / steady,
        "cpu_use": sampler.total_cpu() / (wall * CORES),
        "cpu_s_per_photo": (last_cpu - first_cpu) / photos,
        "worker_rss_mb": max(workers) / 2**20,
        "worker_pss_mb": max(shared_out) / 2**20,
        "workers": len(workers),
    }


def table(name: str, results: dict[str, list[dict]]) -> str:
    """Each run's median figures over its repeats; ratios to the 1-process run."""

    def median(run: str, key: str) -> float:
        return float(np.median([r[key] for r in results[run]]))

    base = median("local1", "photos_per_s") if "local1" in results else None
    runs = next(iter(results.values()))
    lines = [
        f"{runs[0]['photos']} {name}, {runs[0]['faces']} faces, all features; {CORES} cores; "
        f"median of {len(runs)} run(s) each.",
        "",
        "| run | photos/s | faces/s | vs 1 process | wall, with start-up | CPU use | "
        "CPU s per photo | peak RSS (PSS) per worker |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in results:
        rate = median(run, "photos_per_s")
        ratio = f"{rate / base:.2f}×" if base else "—"
        lines.append(
            f"| {RUNS[run][0]} | {rate:.1f} | {median(run, 'faces_per_s'):.1f} | {ratio} | "
            f"{median(run, 'wall_s'):.1f} s | {median(run, 'cpu_use'):.0%} | "
            f"{median(run, 'cpu_s_per_photo'):.3f} | "
            f"{median(run, 'worker_rss_mb'):.0f} ({median(run, 'worker_pss_mb'):.0f}) MB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=500)
    parser.add_argument("--runs", default="local1,local,ray", help=",".join(RUNS))
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, interleaved")
    parser.add_argument("--write", type=Path, help="update the batch section of this file")
    args = parser.parse_args()
    name, listing = photo_list(args.photos)
    runs = args.runs.split(",")
    results: dict[str, list[dict]] = {run: [] for run in runs}
    for _ in range(args.repeat):
        for run in runs:
            results[run].append(measure(listing, RUNS[run][1]))
            print(run, json.dumps(results[run][-1]), flush=True)
    result = table(name, results)
    print(result)
    if args.write:
        write_section(args.write, "bench:batch", result)


if __name__ == "__main__":
    main()
