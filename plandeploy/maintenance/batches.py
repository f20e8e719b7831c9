"""What every maintenance rule shares: batch size, one transaction per batch, the run lock.

Every rule is one set-based statement per batch of at most BATCH_SIZE rows, each batch in
its own transaction, so a large backlog never holds row locks for long and a run's cost
grows with the rows it changes, not with the size of the tables (each predicate has a
partial index on its model).

Two runs of one job never overlap: the periodic tasks carry a queue lock, and every run
(also `plandeploy manage run_maintenance`) first takes a session advisory lock; a run that
cannot take it does nothing and says so. Other writers (sign-ins, workers, the enqueuer)
are handled row by row by PostgreSQL: candidates are selected `FOR UPDATE SKIP LOCKED` (a
row being changed is left to the next run), or, for the two big sweeps (org tokens,
preflight expiry) where that lock costs a write per row, the change re-checks the
predicate on the row it locks, so a token obtained meanwhile is kept.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from django.db import connection, models, transaction

from plandeploy import queue

logger = logging.getLogger(__name__)

BATCH_SIZE = 10_000

Counts = dict[str, int]


@contextlib.contextmanager
def run_lock(name: str) -> Iterator[Counts | None]:
    """Hold the job's advisory lock for the run (or yield None if another run holds it);
    log the counts the run fills in, with its duration."""
    started = time.perf_counter()
    key = f"plandeploy.maintenance.{name}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        acquired = cursor.fetchone()[0]
    if not acquired:
        logger.info("%s: skipped, another run is in progress", name)
        yield None
        return
    counts: Counts = {}
    try:
        yield counts
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
    elapsed_ms = (time.perf_counter() - started) * 1000
    summary = " ".join(f"{label}={value}" for label, value in counts.items())
    logger.info("%s: %s in %.0f ms", name, summary, elapsed_ms)


def batched(step: Callable[[], int], batch_size: int) -> int:
    """Run `step` (one batch, one transaction) until a batch changes fewer than batch_size."""
    total = 0
    while True:
        with transaction.atomic():
            changed = step()
        total += changed
        if changed < batch_size:
            return total


def lock_candidates(queryset: models.QuerySet, order_by: str, limit: int) -> list:
    # Ordered by the indexed column, so the partial index is used even when the planner
    # expects many matches (see cleanup.clear_old_run_details).
    return list(
        queryset.select_for_update(skip_locked=True, of=("self",))
        .order_by(order_by)
        .values_list("pk", flat=True)[:limit]
    )


def abort_queue_jobs(model: type[models.Model], pks: list[int]) -> None:
    """Ask the queue to stop whatever still carries these runs (a worker that is alive
    but stuck); the run's own final transition can no longer overwrite `canceled`."""
    if not pks:
        return
    carried = model.objects.filter(pk__in=pks, job_id__isnull=False).values_list(
        "job_id", flat=True
    )
    # Bounded by worker concurrency plus the queue, not by the backlog.
    for job_id in queue.live_job_ids(carried):
        queue.abort(job_id)
