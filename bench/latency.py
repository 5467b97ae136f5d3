"""Latency of every feature on this machine, in process: median of repeated requests.

Photos: a 640×480 portrait with one face (scikit-image's astronaut on a wider canvas) and a
group photo (the most crowded of ``groups/`` when the dev data is present, else a collage of
five faces). Each feature is timed alone (detection included, as a client calling with only that
feature would see it), then all features together. The requests take turns, one round of all of
them after another, so that a few seconds of another process's work on the shared machine
spread over every row's median instead of spoiling one row (as one row after another did).

    python -m bench.latency [--repeat 30] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from bench import datasets
from bench.accuracy import write_section
from rosto.features import registry
from rosto.pipeline import analyze

TESTS = Path(__file__).resolve().parents[1] / "tests"


def portrait() -> np.ndarray:
    """The astronaut's face in a 640×480 frame, as a webcam or ID photo would be."""
    from skimage import data

    face = cv2.resize(data.astronaut(), (400, 400))
    canvas = np.full((480, 640, 3), 200, dtype=np.uint8)
    canvas[40:440, 120:520] = face
    return canvas


def group() -> tuple[str, np.ndarray]:
    if datasets.DATA.is_dir():
        path, _ = max(datasets.groups(), key=lambda item: len(item[1]))
        return f"groups/{path.name}", datasets.load(path)
    sys.path.insert(0, str(TESTS))
    from conftest import load_astronaut, load_grace_hopper
    from photos import collage, mirror

    a, g = load_astronaut(), load_grace_hopper()
    return "collage of 5 faces", collage([a, g, mirror(a), mirror(g), a], [240, 220, 200, 180, 160])


def medians_ms(image: np.ndarray, requests: list[list[str]], repeat: int) -> list[float]:
    """Median ms of each request over ``repeat`` rounds of all of them in turn."""
    times: list[list[float]] = [[] for _ in requests]
    for request in requests:
        analyze(image, request)  # models loaded, caches warm
    for _ in range(repeat):
        for request, spent in zip(requests, times, strict=True):
            start = time.perf_counter()
            analyze(image, request)
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) * 1000 for spent in times]


def table(photos: list[tuple[str, np.ndarray]], repeat: int) -> str:
    names = sorted(registry())
    header = "| feature | " + " | ".join(
        f"{n} ({len(analyze(im, ['bounds']))} faces)" for n, im in photos
    )
    lines = [header + " |", "|---" * (len(photos) + 1) + "|"]
    requests = [[name] for name in names] + [names]
    columns = [medians_ms(image, requests, repeat) for _, image in photos]
    for row, feature in enumerate([*names, "all"]):
        cells = [f"{column[row]:.1f} ms" for column in columns]
        lines.append(f"| {feature} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--write", type=Path, help="update the latency section of this file")
    args = parser.parse_args()
    photos = [("640×480 portrait", portrait()), group()]
    result = table(photos, args.repeat)
    print(result)
    if args.write:
        write_section(args.write, "bench:latency", result)


if __name__ == "__main__":
    main()
