"""The web process's database connections lost (every backend but the test's own is ended,
as a PostgreSQL restart ends them): the LISTEN connection comes back, and every subscriber
gets its object's current state again."""

from __future__ import annotations

import httpx
import pytest
from django.db import connection

from plandeploy.catalog.tests import factories
from plandeploy.live.hub import APPLICATION_NAME
from plandeploy.live.tests.helpers import follow, next_event, session_cookie
from plandeploy.runs.models import Job, Status
from plandeploy.runs.notify import notify
from plandeploy.testing.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def listen_backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                       [APPLICATION_NAME])
        return [row[0] for row in cursor.fetchall()]


def reconnects(web: str) -> float:
    text = httpx.get(f"{web}/metrics").text
    return float(next(row.split()[1] for row in text.splitlines()
                      if row.startswith("plandeploy_live_listen_reconnects_total ")))


def test_after_the_listen_connection_is_lost_the_current_state_is_sent_again(web):
    owner = factories.user()
    job = Job.objects.create(plan=factories.plan(), user=owner, org_id=owner.org_id)
    socket = follow(web, "job", job.hashid, session_cookie(owner))
    second = follow(web, "job", job.hashid, session_cookie(owner))
    before = reconnects(web)
    # One per web process that has sockets, however many sockets (the server may run
    # several processes, and the two sockets may have landed on different ones).
    backends = listen_backends()
    assert 1 <= len(backends) <= 2
    # The run ends while nobody listens: its announcement is lost with the connection.
    Job.objects.filter(pk=job.pk).update(status=Status.COMPLETE)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    resent = next_event(socket, "JOB_COMPLETED")
    assert resent["payload"]["status"] == "complete"
    # /metrics sums the server's processes: each one that lost its connection counts one.
    wait_until(lambda: reconnects(web) == before + len(backends),
               message="every process to reconnect")
    new_backends = wait_until(lambda: len(listen_backends()) == len(backends)
                              and listen_backends(), message="new LISTEN connections")
    assert not set(new_backends) & set(backends)
    # Events flow again on the new connection.
    notify("TASK_COMPLETED", "job", job.hashid, step="x", status="ok")
    assert next_event(socket, "TASK_COMPLETED")["payload"]["id"] == job.hashid
    assert next_event(second, "JOB_COMPLETED")["payload"]["status"] == "complete"
    socket.close()
    second.close()
