"""cleanup_user_data's rules: dead runs end, old run details and old API tokens go.

The user rules (org tokens, idle users) are in maintenance.users, the workspace sweep in
maintenance.workspaces; `cleanup_steps` lists all of them in the order a run applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models
from django.db.models import Q
from rest_framework.authtoken.models import Token

from plandeploy import queue
from plandeploy.maintenance.batches import (
    BATCH_SIZE,
    abort_queue_jobs,
    batched,
    lock_candidates,
)
from plandeploy.maintenance.users import USER_WEIGHT, delete_idle_users, expire_org_tokens
from plandeploy.maintenance.workspaces import remove_unreferenced_workspaces
from plandeploy.runs.models import INTERRUPTED_MESSAGE, Job, PreflightResult, Status
from plandeploy.runs.status import transition_many


def cleanup_steps(now: datetime, batch_size: int = BATCH_SIZE) -> dict[str, Callable[[], int]]:
    """Each sub-step of cleanup_user_data, run to the end in batches; returns rows changed."""
    users_batch = max(1, batch_size // USER_WEIGHT)
    return {
        "jobs_interrupted": lambda: batched(
            lambda: len(interrupt_dead_jobs(batch_size)), batch_size),
        "preflights_interrupted": lambda: batched(
            lambda: len(interrupt_dead_preflights(batch_size)), batch_size),
        "org_tokens_expired": lambda: batched(
            lambda: len(expire_org_tokens(now, batch_size)), batch_size),
        "users_deleted": lambda: batched(
            lambda: delete_idle_users(now, users_batch), users_batch),
        **{
            f"{label}_{column}s_cleared": (
                lambda model=model, column=column: batched(
                    lambda: clear_old_run_details(model, column, now, batch_size), batch_size)
            )
            for model, label in ((Job, "job"), (PreflightResult, "preflight"))
            for column in ("exception", "log")
        },
        **{
            f"{label}_step_texts_cleared": (
                lambda model=model: batched(
                    lambda: clear_old_step_texts(model, now, batch_size), batch_size)
            )
            for model, label in ((Job, "job"), (PreflightResult, "preflight"))
        },
        "api_tokens_deleted": lambda: batched(
            lambda: delete_old_api_tokens(now, batch_size), batch_size),
        # After the users: a deleted user's workspace goes in the same run.
        "workspaces_removed": lambda: remove_unreferenced_workspaces(now, batch_size),
    }


# ---------------------------------------------------------------------------------------
# Runs whose queue job can no longer carry them end `canceled`, with a message and a
# notification.


def _dead_run_filter(model: type[models.Model]) -> Q:
    """Started runs that nothing will carry to an end any more.

    A run handed to the queue is dead when its queue job ended or vanished, or is `doing`
    on a worker whose heartbeat is stale. The run's own timestamps say nothing about that:
    a run fetched after a long wait in the queue is `doing` before its first step sets
    `started_at` (checkout, process start), and it must not be canceled as it starts.
    A run with no queue job is not judged here: a plan run not yet enqueued belongs to the
    enqueuer, and a started preflight is always queued with its row (expiry ends any other).
    """
    return Q(job_id__isnull=False) & ~queue.carried_job_alive("job_id")


def interrupt_dead_jobs(limit: int = BATCH_SIZE) -> list[int]:
    return _interrupt(Job, limit)


def interrupt_dead_preflights(limit: int = BATCH_SIZE) -> list[int]:
    return _interrupt(PreflightResult, limit)


def _interrupt(model: type[models.Model], limit: int) -> list[int]:
    # Ordered by the column of each model's partial index on started rows.
    pks = lock_candidates(
        model.objects.filter(_dead_run_filter(model), status=Status.STARTED),
        "enqueued_at" if model is Job else "created_at",
        limit,
    )
    moved = transition_many(model, pks, Status.CANCELED, exception=INTERRUPTED_MESSAGE)
    abort_queue_jobs(model, moved)
    return moved


# ---------------------------------------------------------------------------------------
# Exceptions and logs of old runs are cleared.


def clear_old_run_details(
    model: type[models.Model], column: str, now: datetime, limit: int = BATCH_SIZE
) -> int:
    """Clear `exception` and the scrubbed `log` of runs created EXCEPTION_RETENTION_DAYS ago,
    selected by `column` ("exception" or "log": each has its partial index).

    Both may hold customer metadata (schema names, usernames); the per-step texts in
    `results` go in clear_old_step_texts, the per-step statuses stay.
    """
    predicate = {"exception": "exception IS NOT NULL", "log": "log <> ''"}[column]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        # ORDER BY the indexed column: without it the planner may bet on a sequential scan
        # finding LIMIT rows early, and read the whole table when none is due. ARRAY(...)
        # runs the batch query once; as `IN (subquery)` PostgreSQL may rescan it, and among
        # rows of equal created_at each rescan can lock other rows, so a batch outgrew LIMIT.
        cursor.execute(
            f"""
            UPDATE {table} SET exception = NULL, log = ''
             WHERE id = ANY(ARRAY(SELECT id FROM {table}
                           WHERE {predicate} AND created_at <= %s
                           ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED))
            """,
            [now - timedelta(days=settings.EXCEPTION_RETENTION_DAYS), limit],
        )
        return cursor.rowcount


# Per-step entries that still carry text: the partial indexes of runs 0006 use the same
# predicate, so it must stay written exactly so.
STEP_TEXT_PREDICATE = (
    "jsonb_typeof(results) = 'object' AND "
    "results @? '$.*[*] ? (exists(@.message) || exists(@.logs))'"
)


def clear_old_step_texts(
    model: type[models.Model], now: datetime, limit: int = BATCH_SIZE
) -> int:
    """Remove `message` and `logs` from every step entry of runs created
    EXCEPTION_RETENTION_DAYS ago; each entry keeps its `status`, so counts and outcomes stay.

    Step messages and logs hold what the run printed about the customer's org (names,
    usernames, ids): the same data as `exception` and `log`, so the same lifetime.
    """
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} SET results = (
                SELECT coalesce(jsonb_object_agg(step.key, CASE
                    WHEN jsonb_typeof(step.value) = 'array' THEN (
                        SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(entry) = 'object'
                                                       THEN entry - 'message' - 'logs'
                                                       ELSE entry END ORDER BY position),
                                        '[]'::jsonb)
                          FROM jsonb_array_elements(step.value)
                               WITH ORDINALITY AS entries(entry, position))
                    ELSE step.value END), '{{}}'::jsonb)
                  FROM jsonb_each(results) AS step)
             WHERE id = ANY(ARRAY(SELECT id FROM {table}
                           WHERE {STEP_TEXT_PREDICATE} AND created_at <= %s
                           ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED))
            """,
            [now - timedelta(days=settings.EXCEPTION_RETENTION_DAYS), limit],
        )
        return cursor.rowcount


# ---------------------------------------------------------------------------------------
# API tokens older than API_TOKEN_EXPIRE_AFTER_DAYS.


def delete_old_api_tokens(now: datetime, limit: int = BATCH_SIZE) -> int:
    table = Token._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            DELETE FROM {table}
             WHERE key = ANY(ARRAY(SELECT key FROM {table} WHERE created <= %s
                           ORDER BY created LIMIT %s FOR UPDATE SKIP LOCKED))
            """,
            [now - timedelta(days=settings.API_TOKEN_EXPIRE_AFTER_DAYS), limit],
        )
        return cursor.rowcount
