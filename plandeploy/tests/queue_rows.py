"""Test helpers that read the queue's rows through the adapter's table names."""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.db import connection

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
