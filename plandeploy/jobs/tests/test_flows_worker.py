"""Plan runs through the real HTTP API, queue and a worker process: success, cancel,
concurrent edits, preflight cancel, runs ended by others (signals: test_flows_signals.py).

Every run here is a real CumulusCI flow of the sample product against a local org.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from plandeploy.accounts.models import User
from plandeploy.accounts.tokens import issue_token
from plandeploy.orgs.workspaces import resolve
from plandeploy.runs.models import CANCELED_MESSAGE, INTERRUPTED_MESSAGE, Job, PreflightResult
from plandeploy.runs.status import transition
from plandeploy.runs.tests.factories import clear_queue, publish_plan, step_data
from plandeploy.testing.processes import (
    FAST_WORKER_TIMINGS,
    wait_until,
    worker_process,
)
from plandeploy.tests.queue_rows import job_status

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = "tasks.wait.Wait"
# Short timings so that the behaviours show within seconds.
FAST = {
    **FAST_WORKER_TIMINGS,
    # Seconds-resolution schedules: the crashed-worker sweep every 2 s.
    "CRON_SCHEDULE": json.dumps({"fail_stalled_jobs": "* * * * * */2"}),
}


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), worker_process(concurrency=2, **FAST) as process:
        yield process


@pytest.fixture(autouse=True)
def empty_queue():
    clear_queue()


class Client:
    """A signed-in user talking to the web process over HTTP, with a connected local org."""

    def __init__(self, base_url: str) -> None:
        self.user = User.objects.create(username=f"u{os.urandom(4).hex()}")
        token = issue_token(self.user)
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Token {token}"}, timeout=30
        )
        org = self.http.post("/api/orgs/connect/", json={"name": "Test org"})
        assert org.status_code == 201, org.text
        self.org_id = org.json()["org_id"]
        self.user.refresh_from_db()

    @property
    def workspace(self) -> Path:
        return resolve(self.user.org_connection.workspace)

    def start(self, plan, steps=None) -> str:
        steps = plan.steps.order_by("step_num_key") if steps is None else steps
        response = self.http.post(
            "/api/jobs/", json={"plan": plan.hashid, "steps": [s.hashid for s in steps]}
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def job(self, job_id: str) -> dict:
        response = self.http.get(f"/api/jobs/{job_id}/")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_status(self, job_id: str, timeout: float = 90) -> dict:
        return wait_until(
            lambda: (data := self.job(job_id))["status"] != "started" and data,
            timeout=timeout, interval=0.1, message=f"job {job_id} to end",
        )

    def wait_step_started(self, job_id: str, step, timeout: float = 90) -> None:
        wait_until(lambda: step.hashid in self.job(job_id)["results"], timeout=timeout,
                   message="the step to start")

    def cancel(self, job_id: str) -> None:
        response = self.http.delete(f"/api/jobs/{job_id}/")
        assert response.status_code == 204, response.text


def job_row(job_id: str) -> Job:
    return Job.objects.get(pk=Job.pk_from_hashid(job_id))


def steps_of(plan):
    return list(plan.steps.order_by("step_num_key"))


def test_sample_plan_runs_through_api_and_worker(web, worker):
    client = Client(web)
    plan = publish_plan()
    preflight = client.http.post(f"/api/plans/{plan.hashid}/preflight/")
    assert preflight.status_code == 201, preflight.text
    wait_until(lambda: client.http.get(f"/api/plans/{plan.hashid}/preflight/").json()["status"]
               != "started", timeout=90, message="the preflight")
    ready = client.http.get(f"/api/plans/{plan.hashid}/preflight/").json()
    assert ready["status"] == "complete" and ready["is_ready"], ready
    job_id = client.start(plan)
    data = client.wait_status(job_id)
    assert data["status"] == "complete"
    assert [data["results"][s.hashid][0]["status"] for s in steps_of(plan)] == ["ok"] * 4
    assert PreflightResult.objects.get(pk=int(ready["id"])).is_valid is False  # enqueuer
    assert (client.workspace / "components").exists() or any(client.workspace.iterdir())


def test_cancel_between_steps_stops_before_the_next_step(web, worker, events):
    client = Client(web)
    plan = publish_plan(steps=[step_data(n, WAIT, seconds=1.5) for n in ("1", "2", "3")])
    first, second, third = steps_of(plan)
    job_id = client.start(plan)
    client.wait_step_started(job_id, first)
    client.cancel(job_id)
    data = client.wait_status(job_id)
    types = events.types()
    row = job_row(job_id)
    assert data["status"] == "canceled"
    assert row.exception == CANCELED_MESSAGE and row.canceled_at is not None
    # The running step finished within the grace; the next one never started.
    assert data["results"][first.hashid][0]["status"] == "ok"
    assert third.hashid not in data["results"]
    assert "JOB_CANCELED" in types
    assert "BACKEND_ERROR" not in types and "JOB_FAILED" not in types  # a cancel is no error


def test_cancel_during_a_long_step_kills_it_after_the_grace(web, worker):
    client = Client(web)
    plan = publish_plan(steps=[step_data("1", WAIT, seconds=300), step_data("2", WAIT)])
    first, second = steps_of(plan)
    job_id = client.start(plan)
    client.wait_step_started(job_id, first)
    client.cancel(job_id)
    data = client.wait_status(job_id, timeout=60)
    row = job_row(job_id)
    assert data["status"] == "canceled"
    assert row.exception == CANCELED_MESSAGE
    assert second.hashid not in data["results"]
    assert "status" not in data["results"][first.hashid][0]  # killed, never finished


def test_concurrent_patch_of_is_public_survives_the_run(web, worker):
    """The worker writes only its own columns: a PATCH during a run is not reverted."""
    client = Client(web)
    plan = publish_plan(steps=[step_data("1", WAIT, seconds=1.5), step_data("2", WAIT)])
    job_id = client.start(plan)
    client.wait_step_started(job_id, steps_of(plan)[0])
    patched = client.http.patch(f"/api/jobs/{job_id}/", json={"is_public": True})
    assert patched.status_code == 200, patched.text
    data = client.wait_status(job_id)
    assert data["status"] == "complete"
    assert data["is_public"] is True and job_row(job_id).is_public is True


def test_preflight_invalidated_while_running_stays_invalid(web, worker):
    """Expiring a running preflight is not undone when it completes."""
    client = Client(web)
    plan = publish_plan(preflight_checks=[
        {"when": "not tasks.wait(seconds=2)", "action": "error", "message": "never"},
    ], steps=[step_data("1", WAIT)])
    response = client.http.post(f"/api/plans/{plan.hashid}/preflight/")
    assert response.status_code == 201, response.text
    pk = int(response.json()["id"])
    wait_until(lambda: PreflightResult.objects.get(pk=pk).log, timeout=90,
               message="the check to start")
    PreflightResult.objects.filter(pk=pk).update(is_valid=False)
    wait_until(lambda: PreflightResult.objects.get(pk=pk).status != "started", timeout=90,
               message="the preflight to end")
    preflight = PreflightResult.objects.get(pk=pk)
    assert preflight.status == "complete" and preflight.is_valid is False


def test_preflight_can_be_canceled(web, worker):
    client = Client(web)
    plan = publish_plan(preflight_checks=[
        {"when": "not tasks.wait(seconds=300)", "action": "error", "message": "never"},
    ], steps=[step_data("1", WAIT)])
    pk = int(client.http.post(f"/api/plans/{plan.hashid}/preflight/").json()["id"])
    wait_until(lambda: PreflightResult.objects.get(pk=pk).log, timeout=90,
               message="the check to start")
    response = client.http.delete(f"/api/plans/{plan.hashid}/preflight/")
    assert response.status_code == 204, response.text
    wait_until(lambda: PreflightResult.objects.get(pk=pk).status != "started", timeout=90,
               message="the preflight to end")
    preflight = PreflightResult.objects.get(pk=pk)
    assert preflight.status == "canceled" and preflight.canceled_at is not None


def test_run_ended_by_someone_else_is_stopped_and_keeps_that_ending(web, worker):
    """When a maintenance job ends a run, the still-running worker stops it and its
    final write does not overwrite that status."""
    client = Client(web)
    plan = publish_plan(steps=[step_data("1", WAIT, seconds=300), step_data("2", WAIT)])
    job_id = client.start(plan)
    client.wait_step_started(job_id, steps_of(plan)[0])
    row = job_row(job_id)
    assert transition(Job, row.pk, "canceled", exception=INTERRUPTED_MESSAGE)

    def task_finished() -> bool:
        return job_status(row.job_id) != "doing"

    # The worker notices (it re-reads the row every second), stops the step after the
    # cancel grace, and ends its task.
    wait_until(task_finished, timeout=60, message="the worker to stop the run")
    row = job_row(job_id)
    assert row.status == "canceled" and row.exception == INTERRUPTED_MESSAGE
    assert steps_of(plan)[1].hashid not in row.results
