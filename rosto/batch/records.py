"""One photo source → one output record, in whichever process holds the models.

This is the batch's only analysing code: the local worker processes and the Ray actors both call
``analyze_source``, which reads the file (or fetches the URL with the server's guard), decodes it
with ``rosto.imageio`` and runs ``rosto.pipeline.analyze`` — the server's path, so a record's
faces and error codes are the API's. A bad photo becomes an error record, never an exception.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rosto import detection, models
from rosto.analysis import set_compute_ahead
from rosto.batch.memory import make_room_for, release_free_memory
from rosto.batch.sources import is_url
from rosto.errors import FetchFailed, InternalError, RostoError
from rosto.fetch import fetch
from rosto.imageio import open_image, pixels, too_large
from rosto.pipeline import analyze

# No image within the pixel limit needs more than 8 bytes a pixel (16-bit RGBA, uncompressed):
# a larger file is refused before it is read into memory.
_BYTES_PER_PIXEL_LIMIT = 8


@dataclass(frozen=True)
class Job:
    """What a worker needs to analyse any photo of the batch; sent once to each worker."""

    features: tuple[str, ...]
    max_pixels: int
    allow_private_urls: bool = False
    model_threads: int = 1

    def start_worker(self) -> None:
        """Set up the models (threads, no memory arena, no second stream per photo) and load the
        detector, once per worker."""
        models.set_threads(self.model_threads)
        set_compute_ahead(False)
        models.set_memory_arena(False)
        detection.detect(np.zeros((64, 64, 3), np.uint8))


def analyze_source(source: str, job: Job) -> dict:
    """The record of one photo: ``{"source", "faces"}`` or ``{"source", "error"}``, plus the
    seconds it took in total and per stage (read, decode, detection, each feature)."""
    start = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        data = _read(source, job)
        timings["read"] = time.perf_counter() - start
        decoding = time.perf_counter()
        photo = open_image(data, job.max_pixels, max_bytes=None)  # the header only
        make_room_for(photo.width * photo.height)
        image = pixels(photo)
        timings["decode"] = time.perf_counter() - decoding
        record: dict = {"source": source, "faces": analyze(image, job.features, timings)}
    except RostoError as err:
        record = {"source": source, **err.to_json()}
    except OSError as err:
        record = {"source": source, **_unreadable(source, err).to_json()}
    except Exception as err:  # a bug must cost one record, not the batch
        message = f"internal error on this photo ({type(err).__name__}: {err}); please report it"
        record = {"source": source, **InternalError(message).to_json()}
    record["seconds"] = round(time.perf_counter() - start, 4)
    record["timings"] = {stage: round(seconds, 4) for stage, seconds in timings.items()}
    release_free_memory()
    return record


def _read(source: str, job: Job) -> bytes:
    if is_url(source):
        return fetch(source, allow_private=job.allow_private_urls)
    size = os.stat(source).st_size
    limit = _BYTES_PER_PIXEL_LIMIT * job.max_pixels
    if size > limit:
        raise too_large(
            f"the file is {size} bytes, more than any image of at most "
            f"{job.max_pixels} pixels needs ({limit} bytes)"
        )
    return Path(source).read_bytes()


def _unreadable(source: str, err: OSError) -> RostoError:
    """A file that cannot be read is, like a URL that cannot be downloaded, ``fetch_failed``."""
    return FetchFailed(
        f"cannot read the file {source}: {err.strerror or err}; check that it exists and is "
        "readable by this user"
    )
