"""Test helpers that read the queue's rows through the adapter's table names."""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.db import OperationalError, connection, transaction

from plandeploy import queue

JOBS_TABLE = queue.ProcrastinateJob._meta.db_table


def deferred(task_name: str) -> list[dict]:
    """Queue rows waiting (`todo`) for `task_name`, oldest first, with their arguments."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT args, queue_name FROM {JOBS_TABLE} WHERE task_name = %s "
            "AND status = 'todo' ORDER BY id",
            [task_name],
        )
        return [
            {"args": json.loads(args) if isinstance(args, str) else args, "queue": queue_name}
            for args, queue_name in cursor.fetchall()
        ]


def job_status(job_id: int) -> str | None:
    """The queue job's status; None once it is gone (succeeded jobs are deleted)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status FROM {JOBS_TABLE} WHERE id = %s", [job_id])
        found = cursor.fetchone()
    return found[0] if found else None


def count_jobs(task_names: Iterable[str], statuses: Iterable[str] = ("todo", "doing")) -> int:
    """Queue jobs of these tasks in these statuses."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {JOBS_TABLE} WHERE task_name = ANY(%s) AND status = ANY(%s)",
            [list(task_names), list(statuses)],
        )
        return cursor.fetchone()[0]


def delete_job(job_id: int) -> None:
    """Make a queue job vanish, as a crash between a job's end and its run's end leaves it."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {JOBS_TABLE} WHERE id = %s", [job_id])


def forget_workers() -> None:
    """Remove every worker's registration, as if none had ever run (jobs keep their rows)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_workers")


def set_status(job_id: int, status: str) -> None:
    """Put a queue job in `status` (e.g. 'doing', as a worker that fetched it would)."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {JOBS_TABLE} SET status = %s WHERE id = %s", [status, job_id])


def abort_requested(job_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT abort_requested FROM {JOBS_TABLE} WHERE id = %s", [job_id])
        return cursor.fetchone()[0]


def rows(task_name: str, after_id: int = 0) -> list[dict]:
    """Every queue row of `task_name` with id > `after_id`: id, queue_name, lock, args, status."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, queue_name, lock, args, status FROM {JOBS_TABLE} "
            "WHERE task_name = %s AND id > %s ORDER BY id",
            [task_name, after_id],
        )
        columns = [c.name for c in cursor.description]
        found = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in found:
        if isinstance(row["args"], str):
            row["args"] = json.loads(row["args"])
    return found


def last_job_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {JOBS_TABLE}")
        return cursor.fetchone()[0]


def delete_waiting(task_name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {JOBS_TABLE} WHERE task_name = %s AND status = 'todo'",
                       [task_name])


def last_analyze():
    """When the queue table's statistics were last refreshed by ANALYZE."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s",
                       [JOBS_TABLE])
        return cursor.fetchone()[0]


def clear_queue() -> None:
    """Empty the queue's tables: Django's flush between transactional tests skips them."""
    # A running worker locks these tables in two orders: its periodic deferrer writes
    # periodic_defers then jobs, and deleting a finished job writes jobs then (through the
    # queue's unlink trigger) periodic_defers. No TRUNCATE order avoids both, so a deadlock
    # PostgreSQL breaks by aborting this statement is retried, inside a savepoint so that a
    # test's own transaction survives it.
    for attempt in range(_CLEAR_ATTEMPTS):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # Ids keep counting: a worker still finishing a truncated job must never
                # find a new job under the same id.
                cursor.execute(
                    f"TRUNCATE procrastinate_periodic_defers, {JOBS_TABLE}, "
                    "procrastinate_events CASCADE"
                )
            return
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != _DEADLOCK_DETECTED or (
                    attempt == _CLEAR_ATTEMPTS - 1):
                raise


_CLEAR_ATTEMPTS = 5
_DEADLOCK_DETECTED = "40P01"


def register_worker(heartbeat_age_seconds: float = 0.0) -> int:
    """Register a worker whose last heartbeat is `heartbeat_age_seconds` old; its id."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT procrastinate_register_worker_v1()")
        worker_id = cursor.fetchone()[0]
        cursor.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - make_interval(secs => %s)"
            " WHERE id = %s",
            [heartbeat_age_seconds, worker_id],
        )
    return worker_id


def fetched_by(job_id: int, worker_id: int | None) -> None:
    """Put a queue job in the state a worker's fetch leaves it: `doing`, on that worker."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {JOBS_TABLE} SET status = 'doing', worker_id = %s WHERE id = %s",
            [worker_id, job_id],
        )
