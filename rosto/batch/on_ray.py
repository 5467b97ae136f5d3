"""The batch on a Ray cluster: Ray Data streams the sources to a pool of model-holding actors.

The driver (``rosto batch --ray``) makes a Ray dataset of the sources still to do and takes
them from it a few at a time (``iter_batches``); a ``ray.util.ActorPool`` of ``Analyser``
actors — one per CPU of the cluster, each loading the models once — analyses each batch, and
the records stream back to the driver, which writes them to the journal as the local runner's
do: same files, same resume. Each actor reads its photos itself with the same
``analyze_source`` as a local worker (files on a disk every node mounts, or URLs through the
server's guard), so no photo's bytes cross the object store and a bad one is an error record,
not a failed job. The actors start with the local workers' glibc settings
(``rosto.batch.memory``; huge pages as this machine offers them) and their job in their
environment (``start_analyser``). The models travel inside the package: a node needs only
``pip install 'rosto[ray]'``.

Why plain actors, not Ray Data's own actor pool (``map_batches`` with ``ActorPoolStrategy``):
a Ray Data actor imports Ray Data, which imports pandas and pyarrow, ~65 MB more per actor
(idle, models not loaded: 236 MB against 171 for a plain actor), and with them no actor stayed
within issue 14's 400 MB per worker on the dev photos (410-439 MB, 400-416 even with the heap
trimmed after every photo). A plain actor peaks ~70 MB lower; the driver alone imports Ray Data.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rosto.batch.memory import worker_environment
from rosto.batch.records import Job, analyze_source
from rosto.errors import RostoError

if TYPE_CHECKING:
    from ray import ObjectRef
    from ray.actor import ActorHandle

# Sources per actor call: small, so records stream back steadily and the pool stays balanced;
# a photo takes tens of milliseconds, far above Ray's per-call overhead.
BATCH_SIZE = 4
# Batches handed out per actor at a time: the one it analyses and the next, queued in the
# driver, so an actor starts its next batch as soon as its last records arrive.
_BATCHES_PER_ACTOR = 2
# The environment variable that hands an actor its job (``start_analyser``).
_JOB_VARIABLE = "ROSTO_BATCH_JOB"
# What Ray's serialiser imports in a worker, whenever installed, to register their types the
# first time it decodes a call's arguments; an actor that gets a list of strings needs none.
_UNUSED_IN_ACTORS = ("pyarrow", "pydantic", "starlette")


class Analyser:
    """A Ray actor: the models of one worker, applied to a batch of sources at a time.

    It takes no arguments: its job comes in its environment, so that it can keep Ray from
    importing ``_UNUSED_IN_ACTORS`` before it decodes any (an argument to ``__init__`` would be
    decoded first). They were 50-80 MB of an actor's resident memory (pyarrow's libraries
    alone 47 MB in a fresh install) and ~75 MB of its peak.
    """

    def __init__(self) -> None:
        for name in _UNUSED_IN_ACTORS:
            sys.modules.setdefault(name, None)  # their import now fails; Ray then skips them
        fields = json.loads(os.environ[_JOB_VARIABLE])
        self.job = Job(**{**fields, "features": tuple(fields["features"])})
        self.job.start_worker()

    def analyse(self, sources: list[str]) -> list[dict]:
        return [analyze_source(source, self.job) for source in sources]


def analyze_all(
    sources: list[str], job: Job, address: str, actors: int | None = None
) -> Iterator[dict]:
    """The record of every source, in the order they finish, computed on the cluster at
    ``address`` ("" : the one ``RAY_ADDRESS`` names, else a new one on this machine)."""
    if not sources:
        return
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:
        raise RostoError("--ray needs Ray on this machine: pip install 'rosto[ray]'") from exc

    started_here = not ray.is_initialized()
    if started_here:
        address = address or os.environ.get("RAY_ADDRESS", "")
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # rosto's own bar counts photos, faces, errors
        _quiet(logging.getLogger("ray.data"))
        size = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        size = min(size, -(-len(sources) // BATCH_SIZE))  # no actor without a batch to do
        pool = ActorPool([start_analyser(job) for _ in range(size)])
        batches = (
            [str(source) for source in batch["source"]]
            for batch in ray.data.from_items([{"source": s} for s in sources]).iter_batches(
                batch_size=BATCH_SIZE, batch_format="numpy"
            )
        )
        for batch in itertools.islice(batches, size * _BATCHES_PER_ACTOR):
            pool.submit(_analyse, batch)
        while pool.has_next():
            try:
                records = pool.get_next_unordered()
            except ray.exceptions.RayActorError as exc:
                raise RostoError(
                    "a Ray actor died (out of memory, or killed): the records so far are kept; "
                    "rerun the same command to resume"
                ) from exc
            batch = next(batches, None)
            if batch is not None:
                pool.submit(_analyse, batch)
            yield from records
    finally:
        if started_here:
            ray.shutdown()


def start_analyser(job: Job) -> ActorHandle:
    """One ``Analyser`` of ``job`` on the cluster Ray is connected to: one CPU, and the local
    workers' glibc settings, which the actor's process must have from its start."""
    import ray

    variables = {**worker_environment(), _JOB_VARIABLE: json.dumps(dataclasses.asdict(job))}
    options = ray.remote(num_cpus=1, runtime_env={"env_vars": variables})
    return options(Analyser).remote()


def _analyse(actor: ActorHandle, sources: list[str]) -> ObjectRef:
    return actor.analyse.remote(sources)


def _quiet(logger: logging.Logger) -> None:
    """On the terminal, Ray Data's warnings only: not its notes on each execution, nor the one
    on its bars turned off (its log file in the Ray session keeps everything)."""
    for handler in logger.handlers:  # a logger's own filters would miss its children's records
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            handler.setLevel(max(handler.level, logging.WARNING))
            if not any(isinstance(f, _NoBarNotice) for f in handler.filters):
                handler.addFilter(_NoBarNotice())


class _NoBarNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Progress bars disabled")
