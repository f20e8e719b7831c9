"""enqueuer_job: hands waiting plan runs to the queue and invalidates their org's preflights."""

from __future__ import annotations

from plandeploy import taskdefs
from plandeploy.runs.enqueue import enqueue_pending


@taskdefs.enqueuer_job.implement(schedule="enqueue_jobs")
def enqueuer_job(job_pk: int | None = None, timestamp: int | None = None) -> int:
    """Enqueue every waiting job, in batches, until none is left. Returns jobs deferred.

    Deferred (or joined, see `TaskDef.defer_or_join`) by each new job (`job_pk`), and also
    run every minute by the schedule `enqueue_jobs` (procrastinate passes `timestamp`) as a
    safety net. Either way it takes every waiting job, so jobs created while it waited to
    start share it.
    """
    return enqueue_pending()
