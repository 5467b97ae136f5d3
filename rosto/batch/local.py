"""The batch on this machine: a pool of worker processes, each loading the models once.

The standard library's ``ProcessPoolExecutor`` with an initializer: the parent sends sources
(short strings) and gets records back; reading, decoding and analysis happen in the workers,
so the photos per second grow with the cores. A few photos per worker are in flight at a time,
which keeps every worker busy without queueing a whole collection in memory. Workers are
started with ``spawn`` — no copy of the parent's threads or locks — and with glibc's settings
of ``rosto.batch.memory`` in their environment; they ignore Ctrl-C (the parent decides what an
interruption means) and end themselves when the parent dies.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from rosto.batch.memory import environment, worker_environment
from rosto.batch.records import Job, analyze_source
from rosto.errors import RostoError

_IN_FLIGHT_PER_WORKER = 2
_job: Job | None = None  # the worker's job, set by its initializer


def analyze_all(sources: list[str], job: Job, workers: int) -> Iterator[dict]:
    """The record of every source, in the order they finish."""
    if not sources:
        return
    with environment(worker_environment()):  # workers start on the first submissions
        yield from _analyze_all(sources, job, workers)


def _analyze_all(sources: list[str], job: Job, workers: int) -> Iterator[dict]:
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(job, os.getpid()),
    )
    queue = iter(sources)
    pending: set[Future] = set()
    try:
        for source in queue:
            pending.add(pool.submit(_analyze, source))
            if len(pending) == workers * _IN_FLIGHT_PER_WORKER:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
                source = next(queue, None)
                if source is not None:
                    pending.add(pool.submit(_analyze, source))
    except BrokenProcessPool as exc:
        raise RostoError(
            "a worker process died (out of memory, or killed): the records so far are kept; "
            "rerun the same command to resume"
        ) from exc
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _start_worker(job: Job, parent_pid: int) -> None:
    global _job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent_pid)
    job.start_worker()
    _job = job


def _analyze(source: str) -> dict:
    assert _job is not None, "runs in a worker started by _start_worker"
    return analyze_source(source, _job)


def _exit_with_parent(parent_pid: int, interval: float = 0.5) -> None:
    """End this worker soon after its parent dies (``kill -9`` of the batch), not orphan it."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="rosto-parent-watch", daemon=True).start()
