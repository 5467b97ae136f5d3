"""The batch on a Ray cluster: Ray Data streams the sources to a pool of model-holding actors.

The driver (``rosto batch --ray``) makes a dataset of the sources still to do; ``map_batches``
hands them, a few at a time, to an actor pool of ``Analyser``s — one per CPU of the cluster,
each loading the models once — and the records stream back to the driver, which writes them to
the journal as the local runner's do: same files, same resume. Each actor reads its photos
itself with the same ``analyze_source`` as a local worker (files on a disk every node mounts, or
URLs through the server's guard), so no photo's bytes cross the object store and a bad one is
an error record, not a failed dataset. The actors start with the local workers' glibc settings
(``rosto.batch.memory``; huge pages as this machine offers them). The models travel inside the
package: a node needs only ``pip install 'rosto[ray]'``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import numpy as np

from rosto.batch.memory import worker_environment
from rosto.batch.records import Job, analyze_source
from rosto.errors import RostoError

# Sources per actor call: small, so records stream back steadily and the pool stays balanced;
# a photo takes tens of milliseconds, far above Ray's per-batch overhead.
BATCH_SIZE = 4


class Analyser:
    """A Ray Data actor: the models of one worker, applied to a batch of sources."""

    def __init__(self, job: Job):
        job.start_worker()
        self.job = job

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        """Records as JSON text: their nested, varying shapes need no Arrow schema that way."""
        return {"record": [json.dumps(analyze_source(str(s), self.job)) for s in batch["source"]]}


def analyze_all(
    sources: list[str], job: Job, address: str, actors: int | None = None
) -> Iterator[dict]:
    """The record of every source, in the order they finish, computed on the cluster at
    ``address`` ("" : the one ``RAY_ADDRESS`` names, else a new one on this machine)."""
    if not sources:
        return
    try:
        import ray
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
        dataset = ray.data.from_items([{"source": source} for source in sources])
        records = dataset.map_batches(
            Analyser,
            fn_constructor_args=(job,),
            batch_size=BATCH_SIZE,
            compute=ray.data.ActorPoolStrategy(size=size),
            num_cpus=1,
            runtime_env={"env_vars": worker_environment()},
        )
        for row in records.iter_rows():
            yield json.loads(row["record"])
    finally:
        if started_here:
            ray.shutdown()


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
