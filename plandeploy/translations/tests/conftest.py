"""Fixtures: each test sees only the queue rows it made itself.

procrastinate's tables are not flushed between tests and the test database is reused
across sessions, so rows left by other tests (or an earlier failed run) are set aside.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection


@pytest.fixture(autouse=True)
def queue_baseline(request) -> int:
    if not request.node.get_closest_marker("django_db"):
        return 0
    request.getfixturevalue("_django_db_helper")
    with connection.cursor() as cursor:
        # A waiting translation job from elsewhere would absorb ours (its queueing lock).
        cursor.execute(
            "DELETE FROM procrastinate_jobs WHERE task_name = 'update_all_translations' "
            "AND status = 'todo'"
        )
        cursor.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")
        return cursor.fetchone()[0]


@pytest.fixture
def deferred(queue_baseline):
    """The translation jobs deferred since the test started: (task, queue, kwargs)."""

    def jobs() -> list[tuple[str, str, dict]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT task_name, queue_name, args FROM procrastinate_jobs "
                "WHERE id > %s AND task_name = 'update_all_translations' ORDER BY id",
                [queue_baseline],
            )
            return [(name, queue, json.loads(args)) for name, queue, args in cursor.fetchall()]

    return jobs
