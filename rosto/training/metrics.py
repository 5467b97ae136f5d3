"""Measures shared by the training summaries and ``bench.accuracy`` (no PyTorch here)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

AGE_BANDS = ((0, 12), (13, 19), (20, 34), (35, 49), (50, 64), (65, 120))
# The balanced dev set's bands (issue 10): children, teenagers, young adults, middle age, old.
BALANCED_BANDS = ((0, 12), (13, 19), (20, 40), (41, 60), (61, 120))


def age_band(age: int, bands: Sequence[tuple[int, int]] = AGE_BANDS) -> str:
    return next(f"{lo}-{hi}" for lo, hi in bands if lo <= age <= hi)


def balanced_mean(values: Sequence[float], cells: Sequence[tuple]) -> float:
    """The mean of the per-cell means: every cell weighs the same, however many faces it has."""
    values, groups = np.asarray(values, dtype=float), {}
    for value, cell in zip(values, cells, strict=True):
        groups.setdefault(cell, []).append(value)
    return float(np.mean([np.mean(v) for v in groups.values()]))


def confusion(truth: Sequence[int], predicted: Sequence[int], classes: int) -> np.ndarray:
    """(classes, classes) counts, rows = truth, columns = prediction."""
    matrix = np.zeros((classes, classes), dtype=int)
    np.add.at(matrix, (np.asarray(truth), np.asarray(predicted)), 1)
    return matrix


def confusion_text(matrix: np.ndarray, labels: Sequence[str]) -> str:
    """A Markdown table of a confusion matrix (rows: truth, columns: prediction)."""
    lines = ["| truth \\ predicted | " + " | ".join(labels) + " |",
             "|---" * (len(labels) + 1) + "|"]  # fmt: skip
    for label, row in zip(labels, matrix, strict=True):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def grouped(correct: Sequence[bool], groups: Sequence[str]) -> dict[str, float]:
    """Accuracy per group, groups sorted by name."""
    correct, groups = np.asarray(correct), np.asarray(groups)
    return {g: float(correct[groups == g].mean()) for g in sorted(set(groups.tolist()))}


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union) if union else 1.0


def polygon_mask(polygons: list[list[dict]], shape: tuple[int, ...]) -> np.ndarray:
    """The boolean (H, W) mask of API polygons (``[[{"x", "y"}, ...], ...]``)."""
    mask = np.zeros(shape[:2], np.uint8)
    outlines = [np.array([[p["x"], p["y"]] for p in poly], np.int32) for poly in polygons]
    if outlines:
        cv2.fillPoly(mask, outlines, 1)
    return mask.astype(bool)
