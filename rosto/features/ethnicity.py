"""ethnicity: our small head on the shared face representation (``rosto.descriptor``).

Trained by ``python -m rosto.training ethnicity`` on UTKFace (its ``others`` left out: the
API has no such class). The head reads face_recognition's 1024 ``features`` of the descriptor
crop and of a crop 1.3× as wide, and the 8×8 Lab thumbnail of the wide crop; age and gender
read the same representation, so asking for all three pays the net's two passes once.
"""

from __future__ import annotations

from rosto import models
from rosto.analysis import Analysis
from rosto.descriptor import representation
from rosto.features import Feature
from rosto.response import classes

MODEL = "ethnicity"
LABELS = ("asian", "black", "indian", "white")  # the head's output order


def compute(analysis: Analysis) -> list[dict]:
    (probs,) = models.run(MODEL, representation(analysis))
    return [{"ethnicity": classes(LABELS, p)} for p in probs]


FEATURE = Feature("ethnicity", compute)
