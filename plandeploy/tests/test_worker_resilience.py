"""A worker outlives database errors in its periodic deferrer (real worker, real PostgreSQL)."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from plandeploy.testing.processes import only_schedule, wait_until, worker_process

pytestmark = pytest.mark.django_db(transaction=True)

# Only fail_stalled_jobs stays scheduled, every two seconds, so ticks come fast.
FAST_SCHEDULE = only_schedule("fail_stalled_jobs")


@pytest.fixture
def failing_periodic_defers():
    """Every periodic defer fails in the database while the switch table has a row."""
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE TABLE IF NOT EXISTS test_fail_periodic_defers (on_ boolean);
            INSERT INTO test_fail_periodic_defers VALUES (true);
            CREATE OR REPLACE FUNCTION test_fail_periodic_defers() RETURNS trigger AS $$
            BEGIN
              IF EXISTS (SELECT 1 FROM test_fail_periodic_defers) THEN
                RAISE EXCEPTION 'injected failure of a periodic defer';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER test_fail_periodic_defers BEFORE INSERT
              ON procrastinate_periodic_defers
              FOR EACH ROW EXECUTE FUNCTION test_fail_periodic_defers();
        """)
    try:
        yield lambda: _run("DELETE FROM test_fail_periodic_defers")
    finally:
        _run("DROP TRIGGER IF EXISTS test_fail_periodic_defers ON procrastinate_periodic_defers;"
             "DROP FUNCTION IF EXISTS test_fail_periodic_defers();"
             "DROP TABLE IF EXISTS test_fail_periodic_defers;")


def _run(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


def _last_periodic_defer() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM procrastinate_periodic_defers")
        return cursor.fetchone()[0]


def test_worker_survives_a_failing_periodic_deferrer_and_defers_again(failing_periodic_defers):
    before = _last_periodic_defer()
    with worker_process(queues="short", concurrency=1, CRON_SCHEDULE=FAST_SCHEDULE) as worker:
        time.sleep(5)  # two or three ticks, each failing in the database
        assert worker.poll() is None, "the worker stopped when its periodic deferrer failed"
        assert _last_periodic_defer() == before
        failing_periodic_defers()
        wait_until(lambda: _last_periodic_defer() > before, timeout=40,
                   message="the periodic deferrer to defer again after the failures")
        assert worker.poll() is None
