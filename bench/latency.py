"""Latency of every feature on this machine, in process: median of repeated requests.

Photos: a 640×480 portrait with one face (scikit-image's astronaut on a wider canvas) and a
group photo (the most crowded of ``groups/`` when the dev data is present, else a collage of
five faces). Each feature is timed alone (detection included, as a client calling with only that
feature would see it), then all features together.

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


def median_ms(image: np.ndarray, features: list[str], repeat: int) -> float:
    analyze(image, features)  # models loaded, caches warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        analyze(image, features)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def table(photos: list[tuple[str, np.ndarray]], repeat: int) -> str:
    names = sorted(registry())
    header = "| feature | " + " | ".join(
        f"{n} ({len(analyze(im, ['bounds']))} faces)" for n, im in photos
    )
    lines = [header + " |", "|---" * (len(photos) + 1) + "|"]
    for feature in [*names, "all"]:
        request = names if feature == "all" else [feature]
        cells = [f"{median_ms(im, request, repeat):.1f} ms" for _, im in photos]
        lines.append(f"| {feature} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
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
