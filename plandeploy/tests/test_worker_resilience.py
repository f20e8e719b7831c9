"""A worker outlives database errors in its periodic deferrer and at its start (real worker,
real PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from plandeploy.queue import worker_ids
from plandeploy.testing.processes import (
    only_schedule,
    stop_process,
    wait_until,
    worker_process,
)

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


@pytest.fixture
def cut_row_connections():
    """`cut(event, table)`: from then on, each INSERT or DELETE of a row of `table` (by
    default the workers') loses its connection (its backend is terminated), as when
    PostgreSQL goes down just then; `cut` returns the function that ends it."""
    installed = []

    def cut(event: str, table: str = "procrastinate_workers"):
        _run(f"""
            CREATE TABLE IF NOT EXISTS test_cut_rows (on_ boolean);
            INSERT INTO test_cut_rows VALUES (true);
            CREATE OR REPLACE FUNCTION test_cut_rows() RETURNS trigger AS $$
            BEGIN
              IF EXISTS (SELECT 1 FROM test_cut_rows) THEN
                PERFORM pg_terminate_backend(pg_backend_pid());
                PERFORM pg_sleep(10);  -- where the termination takes effect
              END IF;
              RETURN coalesce(NEW, OLD);
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER test_cut_rows BEFORE {event} ON {table}
              FOR EACH ROW EXECUTE FUNCTION test_cut_rows();
        """)
        installed.append(table)
        return lambda: _run("DELETE FROM test_cut_rows")

    yield cut
    if installed:
        _run("".join(f"DROP TRIGGER IF EXISTS test_cut_rows ON {table};"
                     for table in set(installed))
             + "DROP FUNCTION IF EXISTS test_cut_rows();"
             "DROP TABLE IF EXISTS test_cut_rows;")


def _restore_once_logged(log, line: str, restore) -> tuple[threading.Thread, threading.Event]:
    """A thread that ends the cut once the worker's log shows `line` (or after 50 s)."""
    seen = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 50
        while time.monotonic() < deadline:
            if log.exists() and line in log.read_text():
                seen.set()
                break
            time.sleep(0.1)
        restore()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, seen


def _start_through_a_cut(log, failure_line: str, restore) -> str:
    """Start a worker while its connections are cut; the cut ends once its log shows
    `failure_line`. Returns the log, after asserting the worker started and saw the failure."""
    with log.open("w") as output:
        restorer, failed = _restore_once_logged(log, failure_line, restore)
        with worker_process(queues="short", concurrency=1, output=output) as worker:
            assert worker.poll() is None
        restorer.join()
    text = log.read_text()
    assert failed.is_set(), text
    return text


def test_worker_that_starts_while_the_database_is_away_waits_and_registers(
        cut_row_connections, tmp_path):
    restore = cut_row_connections("INSERT")
    text = _start_through_a_cut(tmp_path / "worker.log", "registering the worker failed",
                                restore)
    assert "Traceback" not in text, text


def test_worker_that_stops_while_the_database_is_away_exits_cleanly(
        cut_row_connections, tmp_path):
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        with worker_process(queues="short", concurrency=1, output=output) as worker:
            ids_before = worker_ids()
            restore = cut_row_connections("DELETE")
            stop_process(worker)
        restore()
    text = log.read_text()
    assert worker.returncode == 0, text
    assert "the dead-worker sweep removes its row" in text, text
    assert worker_ids() >= ids_before  # its row stays for the sweep


def test_worker_whose_start_up_check_loses_the_database_waits_and_starts(
        cut_row_connections, tmp_path):
    from plandeploy.runs.models import SharedDirectory

    restore = cut_row_connections("INSERT", SharedDirectory._meta.db_table)
    text = _start_through_a_cut(tmp_path / "worker.log",
                                "checking the shared directories failed", restore)
    assert "Traceback" not in text, text
