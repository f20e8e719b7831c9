"""Ending, as interrupted, the runs of dead workers and runs whose queue job has vanished."""

from __future__ import annotations

import logging

from django.db import connection, transaction

from plandeploy import queue, taskdefs
from plandeploy.runs.models import INTERRUPTED_MESSAGE, Job, PreflightResult, Status
from plandeploy.runs.status import transition_many

logger = logging.getLogger(__name__)


def end_stalled_runs() -> int:
    """End, as interrupted, the runs of dead workers and runs whose queue job has vanished.

    The queue finds stalled jobs by worker heartbeat; they are marked failed, which releases
    their per-org lock so the org's next run can start.
    """
    ended = 0
    with transaction.atomic(), connection.cursor() as cursor:
        stalled_ids = [job_id for job_id, _ in queue.finish_stalled_jobs(taskdefs.RUN_TASKS)]
        for model in (Job, PreflightResult):
            table = model._meta.db_table
            # Runs of dead workers, plus runs whose queue job ended or disappeared without
            # the run ending (a crash between the two): nothing else will ever end them.
            cursor.execute(
                f"""
                SELECT r.id FROM {table} r
                 WHERE r.status = 'started' AND r.job_id IS NOT NULL
                   AND (r.job_id = ANY(%s) OR NOT {queue.live_job_condition("r.job_id")})
                """,
                [stalled_ids],
            )
            pks = [r[0] for r in cursor.fetchall()]
            ended += len(transition_many(model, pks, Status.CANCELED,
                                         exception=INTERRUPTED_MESSAGE))
    if ended:
        logger.warning("ended %d interrupted run(s)", ended)
    return ended
