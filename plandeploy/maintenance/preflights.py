"""expire_preflight_results' rules: preflights older than their lifetime become invalid."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from plandeploy.maintenance.batches import BATCH_SIZE, abort_queue_jobs, lock_candidates
from plandeploy.runs.models import PreflightResult, Status
from plandeploy.runs.notify import notify_many
from plandeploy.runs.status import transition_many

PREFLIGHT_EXPIRED_MESSAGE = "The preflight check expired before it finished. Please run it again."


def _preflight_cutoff(now: datetime) -> datetime:
    return now - timedelta(minutes=settings.PREFLIGHT_LIFETIME_MINUTES)


def cancel_expired_running_preflights(now: datetime, limit: int = BATCH_SIZE) -> list[int]:
    """Expired preflights still `started`: canceled and invalid, through the status function."""
    pks = lock_candidates(
        PreflightResult.objects.filter(
            is_valid=True, created_at__lte=_preflight_cutoff(now), status=Status.STARTED
        ),
        "created_at",
        limit,
    )
    moved = transition_many(
        PreflightResult, pks, Status.CANCELED, is_valid=False, exception=PREFLIGHT_EXPIRED_MESSAGE
    )
    abort_queue_jobs(PreflightResult, moved)
    notify_many("PREFLIGHT_INVALIDATED", "preflightresult", moved)
    return moved


def invalidate_expired_preflights(now: datetime, limit: int = BATCH_SIZE) -> list[int]:
    """Expired preflights that have finished: invalid (their status stays)."""
    table = PreflightResult._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id FROM {table}
             WHERE is_valid AND created_at <= %s AND status <> 'started'
             ORDER BY created_at LIMIT %s
            """,
            [_preflight_cutoff(now), limit],
        )
        due = [row[0] for row in cursor.fetchall()]
        if not due:
            return []
        # By primary key from a literal array (see users.expire_org_tokens): the statement's cost
        # is the batch, whatever the statistics say. Re-checked on the row as it is when
        # locked (one the enqueuer has just invalidated is not announced twice), written
        # so that it does not match the partial index on valid preflights, whose size the
        # planner may take from a quieter moment.
        cursor.execute(
            f"""
            UPDATE {table} SET is_valid = false, edited_at = %s
             WHERE id = ANY(%s) AND is_valid IS NOT FALSE AND status <> 'started'
            RETURNING id
            """,
            [now, due],
        )
        pks = [row[0] for row in cursor.fetchall()]
    notify_many("PREFLIGHT_INVALIDATED", "preflightresult", pks)
    return pks
