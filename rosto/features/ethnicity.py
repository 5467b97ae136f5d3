"""ethnicity: our small head on the face descriptor (``rosto.descriptor``).

Trained by ``python -m rosto.training ethnicity`` on UTKFace (its ``others`` left out: the
API has no such class); the head adds a 128→256→4 product to the 3 ms descriptor pass.
"""

from __future__ import annotations

from rosto import models
from rosto.analysis import Analysis
from rosto.descriptor import descriptors
from rosto.features import Feature
from rosto.response import classes

MODEL = "ethnicity"
LABELS = ("asian", "black", "indian", "white")  # the head's output order


def compute(analysis: Analysis) -> list[dict]:
    (probs,) = models.run(MODEL, descriptors(analysis))
    return [{"ethnicity": classes(LABELS, p)} for p in probs]


FEATURE = Feature("ethnicity", compute)
