"""What subscribers receive: a real plan run, each viewer's representation, content events,
coalesced bursts that still end on the final state, and the metrics gauge."""

from __future__ import annotations

import httpx
import pytest
from django.db import connection, transaction

from plandeploy.catalog.tests import factories
from plandeploy.live.tests.helpers import follow, next_event, quiet_for, session_cookie
from plandeploy.runs.models import Job, Status
from plandeploy.runs.notify import notify, notify_many
from plandeploy.runs.services import create_job
from plandeploy.runs.status import transition
from plandeploy.runs.tests.factories import local_user, publish_plan, step_data
from plandeploy.testing.processes import wait_until, worker_process

pytestmark = pytest.mark.django_db(transaction=True)


def public_job(**fields) -> Job:
    owner = factories.user()
    return Job.objects.create(plan=factories.plan(), user=owner, org_id=owner.org_id,
                              is_public=True, **fields)


def test_a_real_run_is_followed_step_by_step_to_its_end(web):
    user = local_user()
    plan = publish_plan(steps=[step_data(n, "tasks.wait.Wait", seconds=0.2) for n in "12"])
    cookie = session_cookie(user)
    job_socket_org = follow(web, "org", user.org_id, cookie)
    with worker_process(concurrency=1):
        job = create_job(plan=plan, steps=plan.steps.all(), user=user)
        with follow(web, "job", job.hashid, cookie) as socket:
            changed = next_event(job_socket_org, "ORG_CHANGED")
            done = next_event(socket, "JOB_COMPLETED", timeout=120)
    job_socket_org.close()
    assert changed["payload"]["org_id"] == user.org_id
    payload = done["payload"]
    assert payload["id"] == job.hashid and payload["status"] == "complete"
    assert [payload["results"][step.hashid][0]["status"]
            for step in plan.steps.order_by("step_num_key")] == ["ok", "ok"]


def test_each_subscriber_gets_the_job_as_they_may_see_it(web):
    job = public_job()
    owner_socket = follow(web, "job", job.hashid, session_cookie(job.user))
    anonymous_socket = follow(web, "job", job.hashid)
    staff_socket = follow(web, "job", job.hashid, session_cookie(factories.user(staff=True)))
    notify("TASK_COMPLETED", "job", job.hashid, step="x", status="ok")
    owner = next_event(owner_socket, "TASK_COMPLETED")["payload"]
    anonymous = next_event(anonymous_socket, "TASK_COMPLETED")["payload"]
    staff = next_event(staff_socket, "TASK_COMPLETED")["payload"]
    assert owner["org_id"] == job.org_id and owner["user_can_edit"] is True
    assert owner["creator"]["username"] == job.user.username
    assert anonymous["org_id"] is None and anonymous["creator"] is None
    assert anonymous["org_name"] is None and anonymous["user_can_edit"] is False
    assert staff["org_id"] == job.org_id and staff["user_can_edit"] is False
    # Exactly what the REST API shows the same viewer.
    assert anonymous == httpx.get(f"{web}/api/jobs/{job.hashid}/").json()
    for socket in (owner_socket, anonymous_socket, staff_socket):
        socket.close()


def test_a_job_no_longer_shared_stops_reaching_strangers(web):
    job = public_job()
    owner_socket = follow(web, "job", job.hashid, session_cookie(job.user))
    anonymous_socket = follow(web, "job", job.hashid)
    Job.objects.filter(pk=job.pk).update(is_public=False)
    notify("TASK_COMPLETED", "job", job.hashid, step="x", status="ok")
    assert next_event(owner_socket, "TASK_COMPLETED")["payload"]["is_public"] is False
    assert quiet_for(anonymous_socket, 1.0) == []
    owner_socket.close()
    anonymous_socket.close()


def test_user_events_are_delivered_as_they_are(web):
    user = factories.user()
    socket = follow(web, "user", user.hashid, session_cookie(user))
    notify("BACKEND_ERROR", "user", user.hashid, message="There was an error")
    assert next_event(socket) == {"type": "BACKEND_ERROR",
                                  "payload": {"message": "There was an error"}}
    notify_many("USER_TOKEN_INVALID", "user", [user.hashid])
    assert next_event(socket) == {"type": "USER_TOKEN_INVALID"}
    socket.close()


def test_a_burst_is_coalesced_and_ends_on_the_final_state(web):
    job = public_job()
    socket = follow(web, "job", job.hashid)
    steps = 40
    # One transaction: its notifications reach the web process together.
    with transaction.atomic():
        for n in range(steps):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {Job._meta.db_table} SET results = results || %s::jsonb "
                    "WHERE id = %s",
                    [f'{{"s{n}": [{{"status": "ok"}}]}}', job.pk],
                )
            notify("TASK_COMPLETED", "job", job.hashid, step=f"s{n}", status="ok")
    received = [next_event(socket, "TASK_COMPLETED")]
    while len(received[-1]["payload"]["results"]) < steps:
        received.append(next_event(socket, "TASK_COMPLETED"))
    received += quiet_for(socket, 0.5)
    assert len(received[-1]["payload"]["results"]) == steps
    assert len(received) < steps  # one read served many events
    # Events in separate commits, the last one the end of the run: that one always arrives.
    for n in range(5):
        notify("TASK_COMPLETED", "job", job.hashid, step=f"s{n}", status="ok")
    with transaction.atomic():
        transition(Job, job.pk, Status.COMPLETE)
    assert next_event(socket, "JOB_COMPLETED")["payload"]["status"] == "complete"
    socket.close()


def test_the_gauge_counts_open_sockets(web):
    def gauge() -> float:
        text = httpx.get(f"{web}/metrics").text
        line = next(row for row in text.splitlines()
                    if row.startswith("plandeploy_websocket_connections "))
        return float(line.split()[1])

    before = gauge()
    user = factories.user()
    sockets = [follow(web, "user", user.hashid, session_cookie(user)) for _ in range(3)]
    assert gauge() == before + 3
    for socket in sockets:
        socket.close()
    wait_until(lambda: gauge() == before, message="the gauge to drop")
