"""The test helper that empties the queue's tables survives the deadlock a running worker
can cause: it holds procrastinate_jobs and then writes procrastinate_periodic_defers (a
finished job's deletion), while the TRUNCATE takes them the other way round."""

from __future__ import annotations

import threading

import psycopg
import pytest

from plandeploy.testing import processes
from plandeploy.tests import queue_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_clear_queue_retries_when_postgresql_breaks_a_deadlock_with_a_worker():
    with psycopg.connect(processes.test_database_url()) as worker_like:
        worker_like.execute(f"LOCK TABLE {queue_rows.JOBS_TABLE} IN ROW EXCLUSIVE MODE")
        outcome: list[BaseException | None] = []

        def clear() -> None:
            try:
                queue_rows.clear_queue()
                outcome.append(None)
            except BaseException as error:  # reported to the test below
                outcome.append(error)
            finally:
                from django.db import connection

                connection.close()

        clearing = threading.Thread(target=clear)
        clearing.start()
        # The TRUNCATE takes periodic_defers, then waits here for the jobs table.
        for _ in range(200):
            if waiting_for_jobs_table(worker_like):
                break
            threading.Event().wait(0.05)
        else:
            pytest.fail("the TRUNCATE never waited for the jobs table")
        # The TRUNCATE waited first, so PostgreSQL's deadlock check fires in it first and
        # aborts it; this side then goes on and commits, and the helper must try again.
        worker_like.execute("UPDATE procrastinate_periodic_defers SET job_id = NULL WHERE false")
        worker_like.commit()
        clearing.join(timeout=30)
    assert outcome == [None]


def waiting_for_jobs_table(connection: psycopg.Connection) -> bool:
    row = connection.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock' "
        "AND relation = %s::regclass", [queue_rows.JOBS_TABLE]).fetchone()
    return bool(row[0])
