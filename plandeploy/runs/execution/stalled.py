"""Finishing the queue jobs of dead workers, whatever their task, and ending their runs."""

from __future__ import annotations

import logging

from django.db import connection, transaction

from plandeploy import queue, taskdefs
from plandeploy.runs.models import INTERRUPTED_MESSAGE, Job, PreflightResult, Status
from plandeploy.runs.status import transition_many

logger = logging.getLogger(__name__)


def end_stalled_runs() -> int:
    """Finish every queue job of a dead worker, then end the runs it carried as interrupted.

    The queue finds stalled jobs by worker heartbeat, whatever their task, and marks them
    failed: that frees the lock each one held. A periodic job keeps its lock while its row
    stays running, so without this one dead worker stopped that scheduled job for good (and
    an org's runs, which share the org's lock). Plan runs and preflights of those jobs, and
    runs whose queue job ended or vanished without the run ending, are canceled; scratch
    orgs whose creation died are removed by expire_scratch_orgs, requested at once.
    """
    ended = 0
    with transaction.atomic(), connection.cursor() as cursor:
        stalled = queue.finish_stalled_jobs()
        for job_id, task_name in stalled:
            logger.warning("finished queue job %s (%s) of a dead worker", job_id, task_name)
        stalled_ids = [job_id for job_id, task_name in stalled
                       if task_name in taskdefs.RUN_TASKS]
        if any(task_name == taskdefs.create_scratch_org.name for _, task_name in stalled):
            taskdefs.expire_scratch_orgs.defer_unless_queued(taskdefs.expire_scratch_orgs.name)
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
