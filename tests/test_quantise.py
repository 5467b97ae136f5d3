"""The shipped int8 graphs (``tools.convert.quantise``) against the float graphs they are made
from, on the test photos' faces through the pipeline's own crops.

The float graphs come out of the repository's history (``quantise.SHIPPED_FLOAT``, sha256-
checked; face_recognition's is byte for byte what ``tools/convert/faceapi.py`` converts, whose
parity with face-api's own JS ``tools.parity_faceapi`` checks). A clone without that history
skips, visibly.
"""

import subprocess

import numpy as np
import onnxruntime as ort
import pytest

from rosto import alignment, detection, models
from rosto.analysis import Analysis
from rosto.features import hair
from tools.convert import quantise


def faces(*images: np.ndarray) -> list[Analysis]:
    return [Analysis(image, detection.detect(image)) for image in images]


def float_and_int8(name: str, tmp_path):
    """(float session, shipped int8 session) of model ``name``."""
    try:
        path = quantise.shipped_float(name, tmp_path)
    except subprocess.CalledProcessError:
        pytest.skip(f"commit {quantise.SHIPPED_FLOAT[name][0]} not in this clone's history")
    return (ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]),
            models.session(name))  # fmt: skip


def outputs(sess: ort.InferenceSession, batch: np.ndarray) -> list[np.ndarray]:
    return sess.run(None, {sess.get_inputs()[0].name: batch})


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_face_recognition_int8_keeps_the_float_descriptor_and_features(
    astronaut, grace_hopper, tmp_path
):
    reference, served = float_and_int8("face_recognition", tmp_path)
    # each face's descriptor crop and its 1.3× wider crop, as rosto.descriptor makes them
    batch = np.concatenate([quantise.recognition_crops(a) for a in faces(astronaut, grace_hopper)])
    want, got = outputs(reference, batch), outputs(served, batch)
    for name, a, b in zip(("descriptor", "features"), want, got, strict=True):
        assert cosines(a, b).min() >= 0.998, name
    # the two women's descriptors lie far apart; the int8 graph moves each by a small part of it
    apart = np.linalg.norm(want[0][0] - want[0][2])
    assert apart > 0.5 and np.linalg.norm(got[0] - want[0], axis=1).max() < 0.1 * apart


def test_hair_int8_keeps_the_float_mask(astronaut, grace_hopper, tmp_path):
    reference, served = float_and_int8("hair", tmp_path)
    for analysis in faces(astronaut, grace_hopper):
        batch = alignment.crops(analysis.image, hair._regions(analysis), hair.INPUT)
        want = hair.mirrored_mean(lambda x: outputs(reference, x)[0], batch)
        got = hair.mirrored_mean(lambda x: outputs(served, x)[0], batch)
        mask_want, mask_got = want >= hair.THRESHOLD, got >= hair.THRESHOLD
        union = (mask_want | mask_got).sum()  # none under Grace Hopper's cap, in either
        assert union == 0 or (mask_want & mask_got).sum() / union >= 0.95
        assert np.abs(want - got).mean() < 0.01
