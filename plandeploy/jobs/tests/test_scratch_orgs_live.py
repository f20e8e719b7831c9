"""Scratch orgs through the real HTTP API (a `plandeploy web` process) and a worker process.

An anonymous browser session (httpx with cookies) asks for a scratch org; the worker creates
it, runs the plan's preflight and, when every step is required and the preflight found no
error, the installation. Every run is a real CumulusCI flow of the sample product against
the org's workspace. Nothing is mocked.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from plandeploy import queue
from plandeploy.jobs.tests.scratch_support import (
    EMAIL,
    ERROR_CHECK,
    git_product,
    scratch_plan,
    workspaces,
)
from plandeploy.orgs.workspaces import resolve
from plandeploy.runs.models import CANCELED_MESSAGE, Job, PreflightResult, ScratchOrg, Status
from plandeploy.runs.scratch_org_removal import request_deletion
from plandeploy.runs.tests.factories import clear_queue, step_data
from plandeploy.testing.processes import (
    FAST_WORKER_TIMINGS,
    wait_until,
    worker_process,
)

pytestmark = pytest.mark.django_db(transaction=True)

FAST = {
    **FAST_WORKER_TIMINGS,
    # Seconds-resolution schedule: the expiry sweep every 2 s instead of every 10 minutes.
    "CRON_SCHEDULE": json.dumps({"expire_scratch_orgs": "* * * * * */2"}),
}


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        # Once, before the worker starts: a TRUNCATE of the queue tables while its periodic
        # jobs run every 2 s can deadlock with them. Later leftovers are harmless here (a
        # creation or run whose row is gone does nothing).
        clear_queue()
        with worker_process(concurrency=2, **FAST) as process:
            yield process


@pytest.fixture(autouse=True)
def nothing_leaks():
    before = workspaces()
    yield
    # Whatever a test leaves must go with the rows it leaves; the check is the backstop.
    for org in ScratchOrg.objects.all():
        request_deletion(org.pk)
    wait_until(lambda: not ScratchOrg.objects.exists(), timeout=60,
               message="the scratch orgs to be deleted")
    assert workspaces() - before == set()


class Browser:
    """An anonymous browser session: the scratch org's uuid lives in its session cookie."""

    def __init__(self, base_url: str, plan) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.plan = plan
        self.url = f"/api/plans/{plan.hashid}/scratch_org/"

    def create(self) -> dict:
        # As a page's script does: the CSRF cookie from the bootstrap call, echoed back.
        self.http.get("/api/ui/bootstrap/").raise_for_status()
        response = self.http.post(self.url, json={"email": EMAIL},
                                  headers={"X-CSRFToken": self.http.cookies["csrftoken"]})
        assert response.status_code == 202, response.text
        return response.json()

    def org(self) -> httpx.Response:
        return self.http.get(self.url)

    def wait_created(self) -> dict:
        return wait_until(
            lambda: (data := self.org().json())["status"] != "started" and data,
            timeout=60, message="the scratch org to be created",
        )

    def preflight(self) -> dict:
        response = self.http.get(f"/api/plans/{self.plan.hashid}/preflight/")
        assert response.status_code == 200, response.text
        return response.json()

    def job(self, job_id: str) -> dict:
        response = self.http.get(f"/api/jobs/{job_id}/")
        assert response.status_code == 200, response.text
        return response.json()


def creation_finished(org_row: ScratchOrg) -> bool:
    """The create_scratch_org queue job has ended (succeeded jobs are deleted)."""
    return not queue.live_job_ids([org_row.job_id])


def row_of(body: dict) -> ScratchOrg:
    return ScratchOrg.objects.get(uuid=body["uuid"])


def test_happy_path_creates_runs_the_preflight_then_installs(web, worker, events):
    plan = scratch_plan()  # the sample product, every step required, its plan-level checks
    browser = Browser(web, plan)
    body = browser.create()
    assert body["status"] == "started" and body["org_id"] is None
    org = browser.wait_created()
    assert org["status"] == "complete" and len(org["org_id"]) == 18
    row = row_of(body)
    assert row.email is None
    assert timedelta(days=29, hours=23) < row.expires_at - row.created_at < timedelta(days=30,
                                                                                     hours=1)
    preflight = wait_until(lambda: (p := browser.preflight())["status"] != "started" and p,
                           message="the preflight")
    assert preflight["status"] == "complete" and preflight["error_count"] == 0, preflight
    job_row = wait_until(lambda: Job.objects.filter(org_id=org["org_id"]).first(),
                         message="the installation job")
    job = wait_until(lambda: (j := browser.job(job_row.hashid))["status"] != "started" and j,
                     timeout=90, message="the installation")
    assert job["status"] == "complete", job
    job_row.refresh_from_db()
    assert job_row.user_id is None and job_row.full_org_type == "Scratch"
    assert set(job_row.steps.all()) == set(plan.steps.all())
    workspace = resolve(row.config["workspace"])
    assert json.loads((workspace / "manifest.json").read_text()) == {"core": "1.0"}

    org_events = events.types("scratchorg", body["id"])
    assert org_events == ["SCRATCH_ORG_CREATED", "PREFLIGHT_STARTED", "JOB_STARTED"]
    order = [(e["type"], e["model"], e["id"]) for e in events.collect()]
    started = order.index(("PREFLIGHT_STARTED", "scratchorg", body["id"]))
    completed = order.index(("PREFLIGHT_COMPLETED", "preflightresult", preflight["id"]))
    job_started = order.index(("JOB_STARTED", "scratchorg", body["id"]))
    assert started < completed < job_started  # announced before it ran: followable
    payloads = {e["type"]: e for e in events.collect() if e["model"] == "scratchorg"}
    assert payloads["PREFLIGHT_STARTED"]["preflight"] == preflight["id"]
    assert payloads["JOB_STARTED"]["job"] == job_row.hashid


def test_a_plan_with_an_optional_step_is_not_installed_by_itself(web, worker, events):
    plan = scratch_plan(all_required=False)  # the sample as published: step 3 is optional
    browser = Browser(web, plan)
    body = browser.create()
    org = browser.wait_created()
    assert org["status"] == "complete"
    wait_until(lambda: creation_finished(row_of(body)), message="the creation job to end")
    preflight = browser.preflight()
    assert preflight["status"] == "complete" and preflight["is_ready"], preflight
    assert not Job.objects.filter(org_id=org["org_id"]).exists()
    assert events.types("scratchorg", body["id"]) == ["SCRATCH_ORG_CREATED", "PREFLIGHT_STARTED"]


def test_a_preflight_with_errors_installs_nothing(web, worker, events):
    plan = scratch_plan(preflight_checks=[ERROR_CHECK])  # every step required
    browser = Browser(web, plan)
    body = browser.create()
    org = browser.wait_created()
    wait_until(lambda: creation_finished(row_of(body)), message="the creation job to end")
    preflight = browser.preflight()
    assert preflight["status"] == "complete"
    assert preflight["error_count"] == 1 and not preflight["is_ready"]
    assert not Job.objects.filter(org_id=org["org_id"]).exists()
    assert "JOB_STARTED" not in events.types("scratchorg", body["id"])
    assert row_of(body).status == Status.COMPLETE  # the org stays; the user decides


def test_a_creation_failure_leaves_no_workspace_and_no_row(web, worker, events, tmp_path):
    repo, _ = git_product(tmp_path, ['{"settings": "not an object"}'])
    plan = scratch_plan(repo_url=str(repo))
    browser = Browser(web, plan)
    before = workspaces()
    body = browser.create()
    wait_until(lambda: browser.org().status_code == 404, timeout=60,
               message="the failed org to be removed")
    assert not ScratchOrg.objects.filter(uuid=body["uuid"]).exists()
    assert workspaces() == before
    errors = wait_until(lambda: [e for e in events.collect() if e["type"] == "SCRATCH_ORG_ERROR"],
                        message="the error event")
    assert errors[0]["id"] == body["id"] and errors[0]["plan"] == plan.hashid
    assert errors[0]["message"] == (
        'The scratch org could not be created: The "settings" of orgs/release.json must be a '
        "JSON object."
    )
    assert events.types("scratchorg", body["id"]) == [
        "SCRATCH_ORG_UPDATED", "SCRATCH_ORG_ERROR", "SCRATCH_ORG_DELETED"]
    assert not PreflightResult.objects.filter(plan=plan).exists()


def test_expiry_deletes_the_workspace_through_the_periodic_job(web, worker, events):
    plan = scratch_plan(all_required=False, preflight_checks=[])
    browser = Browser(web, plan)
    body = browser.create()
    browser.wait_created()
    row = row_of(body)
    workspace = resolve(row.config["workspace"])
    assert workspace.is_dir()
    kept = Job.objects.create(plan=plan, org_id=row.org_id, full_org_type="Scratch",
                              status=Status.COMPLETE)
    ScratchOrg.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    wait_until(lambda: not ScratchOrg.objects.filter(pk=row.pk).exists(), timeout=30,
               message="expire_scratch_orgs to delete the org")
    assert not workspace.exists()
    assert browser.org().status_code == 404
    assert Job.objects.get(pk=kept.pk).org_id == row.org_id
    assert events.types("scratchorg", body["id"])[-1] == "SCRATCH_ORG_DELETED"


def test_deleting_an_org_stops_its_running_installation_first(web, worker):
    plan = scratch_plan(steps=[step_data("1", "tasks.wait.Wait", seconds=120)],
                        preflight_checks=[])
    browser = Browser(web, plan)
    body = browser.create()
    org = browser.wait_created()
    job_row = wait_until(
        lambda: Job.objects.filter(org_id=org["org_id"], started_at__isnull=False).first(),
        timeout=60, message="the installation to start",
    )
    row = row_of(body)
    workspace = resolve(row.config["workspace"])
    request_deletion(row.pk)  # what the admin site does
    wait_until(lambda: not ScratchOrg.objects.filter(pk=row.pk).exists(), timeout=60,
               message="the org to be deleted")
    job_row.refresh_from_db()
    assert job_row.status == Status.CANCELED and job_row.exception == CANCELED_MESSAGE
    assert not workspace.exists()
