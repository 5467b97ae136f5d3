"""The geometry and read-outs of the candidate benchmark (no model or data needed)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.candidates import box_matrix, fit_mesh_to_68, hse_age, min_max, similarity


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_similarity_recovers_a_known_transform():
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -2.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.random.default_rng(0).uniform(0, 100, (5, 2))
    matrix = similarity(src, src @ rot.T + shift)
    assert np.allclose(matrix, np.hstack([rot, shift[:, None]]))


def test_box_matrix_centres_and_scales():
    matrix = box_matrix(np.array([50.0, 40.0]), 20.0, 20.0, 0.0, 64)
    assert np.allclose(
        apply(matrix, np.array([[50.0, 40.0], [60.0, 40.0]])), [[31.5, 31.5], [63.5, 31.5]]
    )


@pytest.mark.parametrize("angle", [0.4, -1.0])
def test_box_matrix_turns_a_rolled_face_upright(angle):
    # eyes on a line rolled by ``angle``: they come out level
    eyes = np.array([[0.0, 0.0], [np.cos(angle), np.sin(angle)]]) * 10 + 100
    out = apply(box_matrix(eyes.mean(0), 30.0, 30.0, angle, 90), eyes)
    assert out[0, 1] == pytest.approx(out[1, 1])
    assert out[1, 0] > out[0, 0]


def test_fit_mesh_to_68_finds_the_vertex_under_each_point():
    rng = np.random.default_rng(1)
    mesh = rng.uniform(0, 100, (4, 468, 2))
    truth = rng.choice(468, 68, replace=False)
    gt = mesh[:, truth] + rng.normal(0, 0.01, (4, 68, 2))
    assert (fit_mesh_to_68(mesh, gt, np.ones(4)) == truth).all()


def test_read_outs():
    probs = np.zeros(100)
    probs[[30, 31]] = 0.25, 0.75
    assert hse_age(probs) == pytest.approx(30.75)
    scaled = min_max(np.array([[10.0, 20.0], [30.0, 50.0]]))
    assert scaled.min() == 0 and scaled.max() == pytest.approx(255)
