"""enqueuer_job's rules: waiting plan runs go to the queue in batches, their preflights expire."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.utils import timezone

from plandeploy import queue, taskdefs
from plandeploy.runs.models import CANCELED_MESSAGE, Job, Status
from plandeploy.runs.notify import notify_many
from plandeploy.runs.status import transition_many

logger = logging.getLogger(__name__)

# An enqueuer claims at most this many jobs per transaction, so it never holds thousands of
# row locks at once; it goes on with the next batch.
SWEEP_BATCH = 500

# After deferring this many runs at once, the queue table's statistics are refreshed.
ANALYZE_QUEUE_AFTER = 100


def org_lock(org_id: str | None, job_pk: int) -> str:
    """The procrastinate lock that keeps plan runs of one org strictly one at a time."""
    return f"org:{org_id}" if org_id else f"job:{job_pk}"


def enqueue_pending() -> int:
    """Enqueue waiting jobs, one transaction per batch, until none is left. Returns jobs
    deferred."""
    deferred = 0
    while True:
        claimed, batch_deferred = _enqueue_batch()
        deferred += batch_deferred
        if batch_deferred >= ANALYZE_QUEUE_AFTER:
            queue.analyze_queue()
        if claimed < SWEEP_BATCH:
            return deferred


def _enqueue_batch() -> tuple[int, int]:
    """Claim, invalidate, defer and mark, all in one transaction. Returns (jobs claimed,
    runs deferred).

    `FOR UPDATE SKIP LOCKED` makes concurrent enqueuers split the waiting jobs between
    them, so no run is deferred twice and run twice against its org; the run_flows_job rows
    are inserted through the Django connection, so they commit or roll back with the claim.
    """
    with transaction.atomic():
        rows = list(
            Job.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(enqueued_at__isnull=True, status=Status.STARTED)
            .order_by("created_at")
            .values("pk", "org_id", "user_id", "plan_id", "cancel_requested_at")[:SWEEP_BATCH]
        )
        if not rows:
            return 0, 0
        to_cancel = [row["pk"] for row in rows if row["cancel_requested_at"] is not None]
        to_run = [row for row in rows if row["cancel_requested_at"] is None]
        if to_cancel:
            # Canceled before it was ever queued: it ends here without running a step.
            transition_many(Job, to_cancel, Status.CANCELED, exception=CANCELED_MESSAGE)
        if not to_run:
            return len(rows), 0
        invalidate_preflights(to_run)
        queue_job_ids = taskdefs.run_flows_job.defer_many(
            [(org_lock(row["org_id"], row["pk"]), {"job_pk": row["pk"]}) for row in to_run]
        )
        _mark_enqueued([row["pk"] for row in to_run], queue_job_ids)
    logger.info("enqueued %d plan run(s)", len(to_run))
    return len(rows), len(to_run)


def invalidate_preflights(rows: list[dict]) -> list[int]:
    """Mark the valid preflights of each job's (org, user, plan) invalid, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE runs_preflightresult AS p
               SET is_valid = false, edited_at = now()
              FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS j(org_id, user_id, plan_id)
             WHERE p.is_valid
               AND p.org_id = j.org_id
               AND p.plan_id = j.plan_id
               AND p.user_id IS NOT DISTINCT FROM j.user_id
            RETURNING p.id
            """,
            [
                [row["org_id"] for row in rows],
                [row["user_id"] for row in rows],
                [row["plan_id"] for row in rows],
            ],
        )
        invalidated = [row[0] for row in cursor.fetchall()]
    notify_many("PREFLIGHT_INVALIDATED", "preflightresult", invalidated)
    return invalidated


def _mark_enqueued(job_pks: list[int], queue_job_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE runs_job AS j
               SET enqueued_at = %s, edited_at = %s, job_id = q.queue_job_id
              FROM unnest(%s::bigint[], %s::bigint[]) AS q(job_pk, queue_job_id)
             WHERE j.id = q.job_pk
            """,
            [now := timezone.now(), now, job_pks, queue_job_ids],
        )
