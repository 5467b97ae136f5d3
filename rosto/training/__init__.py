"""Training of Rosto's own models (age and gender, emotion head, ethnicity, glasses, hair,
the fine-pass face detector, smile).

``python -m rosto.training MODEL --data ../shared/data`` reproduces a shipped ONNX file from
the data with a fixed seed. Training needs PyTorch (the ``train`` extra); serving never
imports it. Training data is read where it lies and only derived arrays are cached, outside
the repository (``ROSTO_TRAINING_CACHE``, default ``~/.cache/rosto/training``).
"""

from __future__ import annotations

import os
from pathlib import Path

MODELS = ("age_gender", "emotion", "ethnicity", "face_judge", "fine_faces", "glasses", "hair",
          "smile")  # fmt: skip


class TorchMissingError(RuntimeError):
    """Training was asked for without PyTorch installed."""


def require_torch() -> None:
    """Fail with an instruction, not a traceback, when PyTorch is absent."""
    try:
        import torch  # noqa: F401
    except ImportError as err:
        raise TorchMissingError(
            "training needs PyTorch: pip install 'rosto[train]' (CPU wheel torch==2.13.0)"
        ) from err


def cache_dir() -> Path:
    """Where derived training arrays (crops, features) are kept between runs."""
    default = Path.home() / ".cache" / "rosto" / "training"
    path = Path(os.environ.get("ROSTO_TRAINING_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path
