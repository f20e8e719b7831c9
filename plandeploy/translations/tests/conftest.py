"""Fixtures: each test sees only the queue rows it made itself.

procrastinate's tables are not flushed between tests and the test database is reused
across sessions, so rows left by other tests (or an earlier failed run) are set aside.
"""

from __future__ import annotations

import pytest

from plandeploy.tests import queue_rows


@pytest.fixture(autouse=True)
def queue_baseline(request) -> int:
    if not request.node.get_closest_marker("django_db"):
        return 0
    request.getfixturevalue("_django_db_helper")
    # A waiting translation job from elsewhere would absorb ours (its queueing lock).
    queue_rows.delete_waiting("update_all_translations")
    return queue_rows.last_job_id()


@pytest.fixture
def deferred(queue_baseline):
    """The translation jobs deferred since the test started: (task, queue, kwargs)."""

    def jobs() -> list[tuple[str, str, dict]]:
        return [("update_all_translations", row["queue_name"], row["args"])
                for row in queue_rows.rows("update_all_translations", after_id=queue_baseline)]

    return jobs
