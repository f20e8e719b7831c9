"""Test helpers that read the queue's rows through the adapter's table names."""

from __future__ import annotations

import json

from django.db import connection


def deferred(task_name: str) -> list[dict]:
    """Queue rows waiting (`todo`) for `task_name`, oldest first, with their arguments."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT args, queue_name FROM procrastinate_jobs WHERE task_name = %s "
            "AND status = 'todo' ORDER BY id",
            [task_name],
        )
        return [
            {"args": json.loads(args) if isinstance(args, str) else args, "queue": queue}
            for args, queue in cursor.fetchall()
        ]
