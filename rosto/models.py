"""Lazy, process-wide ONNX Runtime sessions for the shipped weights.

A model is named by its file stem in ``rosto/weights`` (``face_landmark_68`` →
``face_landmark_68.onnx``). Each session is created on first use and shared by every request
of the process; the thread count is set once, before the first session is created.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort

from rosto.errors import MissingModelError

WEIGHTS_DIR = Path(__file__).with_name("weights")

_sessions: dict[str, ort.InferenceSession] = {}
run_counts: Counter[str] = Counter()  # model name → batches run, for metrics and tests
# Items per forward pass at most. The hair net's activations take 4 MB an image: an 11-face
# group photo's 22 crops (each mirrored) in one pass took 88 MB, in passes of 8 at most 36 MB,
# with the same CPU time per image (12.5-14 ms from 4 to 22) and the same answers, bit for bit.
# Passes of 4 took 18 MB less than passes of 8 at a Ray actor's peak (hair on a 12-face photo:
# 363 → 341 MB), for 1-4 % more CPU on the 30 dev group photos (noise on a loaded machine).
MAX_BATCH = 4
# Models whose items are small enough to run more of them per pass. R-Net's 24² crops take ~60
# KB of activations each; in passes of 16 they cost 0.074 ms of CPU a crop against 0.094 in
# passes of 4 (both threads; a 2-MP photo sends it ~60 candidates), the same answers bit for bit.
BATCH_LIMITS = {"mtcnn_rnet": 16}
# Models whose inputs are so small (R-Net's 24² and O-Net's and the judge's 48² crops, in
# batches of up to 16) that ONNX Runtime's hand-offs to a second intra-op thread cost more than
# the thread gives. Their sessions get one thread whatever ``set_threads`` says: the same
# answers bit for bit, 1.5-2.4 ms of CPU less on a 640×480 photo's detection, 4-6 on a 2-MP
# one's (MODELS.md, "Detection in two streams"). BlazeFace, on one thread too while it runs
# beside the fine-pass net (``detection.detect_all``), saved a 640×480 photo a little more but
# cost 2-MP photos wall time.
ONE_THREAD = frozenset({"mtcnn_rnet", "mtcnn_onet", "face_judge"})
_lock = threading.Lock()
_threads = int(os.environ.get("ROSTO_MODEL_THREADS", "0")) or min(os.cpu_count() or 1, 4)
_memory_arena = True


def set_threads(threads: int) -> None:
    """Set the intra-op threads of sessions created from now on (0 keeps the default)."""
    global _threads
    if threads > 0:
        _threads = threads


def set_memory_arena(enabled: bool) -> None:
    """Whether sessions created from now on keep ONNX Runtime's CPU memory arena.

    The arena keeps each session's largest allocation for reuse. A batch worker turns it off:
    after a few group photos the arenas of ten models would hold ~200 MB it rarely needs again
    (peak 446 → 327 MB on the dev photos, no slower).
    """
    global _memory_arena
    _memory_arena = enabled


def weight_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.onnx"


def available() -> list[str]:
    """Names of the models shipped in this install."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.onnx"))


def session(name: str) -> ort.InferenceSession:
    """The shared session of model ``name``, loaded on first use."""
    sess = _sessions.get(name)
    if sess is not None:
        return sess
    with _lock:
        sess = _sessions.get(name)
        if sess is None:
            sess = _sessions[name] = _load(name)
    return sess


def run(name: str, *inputs: np.ndarray) -> list[np.ndarray]:
    """Model ``name`` on a batch: its inputs in the order of the graph's inputs, each with the
    batch along the first axis, as every shipped model's inputs and outputs have it.

    One forward pass per ``MAX_BATCH`` items (``BATCH_LIMITS`` for small ones): the activations
    of a pass grow with its batch, and a crowd's faces in one pass would make a worker's memory
    grow with the faces of a photo.
    """
    sess = session(name)
    feeds = {arg.name: value for arg, value in zip(sess.get_inputs(), inputs, strict=True)}
    run_counts[name] += 1
    count, most = len(inputs[0]), BATCH_LIMITS.get(name, MAX_BATCH)
    if count <= most:
        return sess.run(None, feeds)
    passes = [
        sess.run(None, {arg: value[i : i + most] for arg, value in feeds.items()})
        for i in range(0, count, most)
    ]
    return [np.concatenate(outputs) for outputs in zip(*passes, strict=True)]


def loaded() -> list[str]:
    """Names of the models loaded so far in this process (readiness, lazy-execution checks)."""
    return sorted(_sessions)


def serve_from(name: str, path: Path) -> None:
    """Make ``run(name, ...)`` use the ONNX file at ``path`` rather than the pack's.

    Lets a benchmark run a candidate that does not ship through the pipeline's own code.
    """
    with _lock:
        _sessions.setdefault(name, open_session(path))


def _load(name: str) -> ort.InferenceSession:
    path = weight_path(name)
    if not path.is_file():
        raise MissingModelError(
            f"model weight file {path.name} is missing from {WEIGHTS_DIR}: reinstall rosto "
            "or rebuild the pack with `make weights`"
        )
    return open_session(path, 1 if name in ONE_THREAD else 0)


def open_session(path: Path, threads: int = 0) -> ort.InferenceSession:
    """A CPU session for the ONNX file at ``path``, with ``threads`` intra-op threads (0: those
    set by ``set_threads``)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or _threads
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = _memory_arena
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads sleep instead of spinning: concurrent requests on a few cores would
    # otherwise burn each other's CPU waiting for work.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
