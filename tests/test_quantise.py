"""The shipped int8 graphs (``tools.convert.quantise``) against the float graphs they are made
from, on the test photos' faces through the pipeline's own crops.

The float graphs are rebuilt here: hair's from the repository's history (the test skips,
visibly, in a clone without it).
"""

import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from rosto import alignment, detection, models
from rosto.analysis import Analysis
from rosto.features import hair
from tools.convert import quantise


def faces(*images: np.ndarray) -> list[Analysis]:
    return [Analysis(image, detection.detect(image)) for image in images]


def run(path: Path, batch: np.ndarray) -> list[np.ndarray]:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: batch})


def test_hair_int8_keeps_the_float_mask(astronaut, grace_hopper, tmp_path):
    try:
        float_graph = quantise.float_graph("hair", tmp_path)
    except subprocess.CalledProcessError:
        pytest.skip(f"commit {quantise.HAIR_FLOAT[0]} not in this clone's history")
    for analysis in faces(astronaut, grace_hopper):
        batch = alignment.crops(analysis.image, hair._regions(analysis), hair.INPUT)
        want = hair.mirrored_mean(lambda x: run(float_graph, x)[0], batch)
        got = hair.mirrored_mean(lambda x: run(models.weight_path("hair"), x)[0], batch)
        mask_want, mask_got = want >= hair.THRESHOLD, got >= hair.THRESHOLD
        union = (mask_want | mask_got).sum()  # none under Grace Hopper's cap, in either
        assert union == 0 or (mask_want & mask_got).sum() / union >= 0.95
        assert np.abs(want - got).mean() < 0.01
