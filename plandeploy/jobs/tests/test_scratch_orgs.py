"""create_scratch_org, delete_scratch_org and expire_scratch_orgs with an in-process worker.

The queue, the database, git checkouts and the CumulusCI child processes are real; requests
go through Django's test client. The journeys through a web and a worker process are in
test_scratch_orgs_live.py.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from plandeploy import queue
from plandeploy.api.tests.helpers import deferred
from plandeploy.catalog.models import Version
from plandeploy.catalog.tests import factories as catalog_factories
from plandeploy.jobs import scratch_orgs
from plandeploy.jobs.scratch_orgs import delete_scratch_org
from plandeploy.jobs.tests.scratch_support import (
    EMAIL,
    FAIL_STEP,
    definition,
    drain,
    git_product,
    scratch_plan,
    workspace_of,
    workspaces,
)
from plandeploy.orgs import scratch
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status
from plandeploy.runs.scratch_org_removal import request_deletion, run_expire_scratch_orgs
from plandeploy.runs.scratch_orgs import CREATION_INTERRUPTED_MESSAGE
from plandeploy.runs.tests.factories import clear_queue

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_queue():
    clear_queue()


@pytest.fixture(autouse=True)
def nothing_leaks():
    """Each test leaves the scratch root as it found it (the session check is the backstop)."""
    before = workspaces()
    yield
    assert workspaces() - before == set()


def post(plan, client: APIClient | None = None) -> ScratchOrg:
    client = client or APIClient()
    response = client.post(f"/api/plans/{plan.hashid}/scratch_org/", {"email": EMAIL},
                           format="json")
    assert response.status_code == 202, response.content
    return ScratchOrg.objects.get(uuid=response.json()["uuid"])


def created(plan, **plan_fields) -> ScratchOrg:
    """A scratch org of `plan`, created by the real job and left complete."""
    org = post(plan)
    drain()
    org.refresh_from_db()
    assert org.status == Status.COMPLETE
    return org


def destroy(org: ScratchOrg) -> None:
    request_deletion(org.pk)
    drain()
    assert not ScratchOrg.objects.filter(pk=org.pk).exists()


# -- creation ---------------------------------------------------------------------------------


def test_creation_records_the_org_and_forgets_the_email(events):
    plan = scratch_plan(all_required=False, preflight_checks=[], steps=[
        {**FAIL_STEP, "is_required": False}])
    before = timezone.now()
    org = created(plan)
    assert len(org.org_id) == 18 and org.org_id.startswith("00D")
    assert org.email is None
    assert set(org.config) == {"workspace", "username", "org_name", "org_config_name",
                               "commit_ish", "commit"}
    assert EMAIL not in json.dumps(org.config)
    days = (org.expires_at - before).total_seconds() / 86400
    assert 30 - 0.01 < days < 30 + 0.01
    workspace = workspace_of(org)
    assert workspace.parent == scratch.scratch_root() and workspace.name == org.org_id
    described = json.loads((workspace / "org.json").read_text())
    assert described["org_id"] == org.org_id and described["admin_email"] == EMAIL
    assert events.types("scratchorg", org.hashid) == ["SCRATCH_ORG_CREATED"]
    # Optional steps and no checks: nothing runs by itself.
    assert not PreflightResult.objects.filter(org_id=org.org_id).exists()
    assert not Job.objects.filter(org_id=org.org_id).exists()
    destroy(org)


def test_the_plans_duration_override_sets_the_expiry():
    plan = scratch_plan(all_required=False, preflight_checks=[], steps=[
        {**FAIL_STEP, "is_required": False}], scratch_org_duration_override=3)
    before = timezone.now()
    org = created(plan)
    assert timedelta(days=3) <= org.expires_at - before < timedelta(days=3, minutes=5)
    destroy(org)


def test_the_org_is_built_from_the_version_commit_when_the_plan_has_none(tmp_path):
    repo, (tagged, head) = git_product(tmp_path, [definition(marker="v1"),
                                                  definition(marker="head")])
    plan = scratch_plan(repo_url=str(repo))
    Version.objects.filter(pk=plan.version_id).update(commit_ish=tagged)
    org = created(plan)
    assert org.config["commit"] == tagged and org.config["commit_ish"] == tagged
    settings_json = json.loads((workspace_of(org) / "settings.json").read_text())
    assert settings_json["marker"] == "v1"
    # The auto-installation ran the steps from that same commit, on that workspace.
    job = Job.objects.get(org_id=org.org_id)
    assert job.status == Status.COMPLETE, job.exception
    assert json.loads((workspace_of(org) / "settings.json").read_text())["marker"] == "v1"
    destroy(org)

    plan.commit_ish = "main"
    plan.save()
    org = created(plan)
    assert org.config["commit"] == head
    assert json.loads((workspace_of(org) / "org.json").read_text())["definition"][
        "settings"] == {"marker": "head"}
    destroy(org)


def test_an_unknown_commit_ish_fails_the_creation_and_leaves_nothing(tmp_path, events):
    repo, _ = git_product(tmp_path, [None])
    plan = scratch_plan(repo_url=str(repo), commit_ish="no-such-branch")
    org = post(plan)
    drain()
    assert not ScratchOrg.objects.filter(pk=org.pk).exists()
    error = [e for e in events.collect() if e["type"] == "SCRATCH_ORG_ERROR"]
    assert len(error) == 1 and error[0]["id"] == org.hashid and error[0]["plan"] == plan.hashid
    assert error[0]["message"].startswith("The scratch org could not be created: ")
    assert "no-such-branch" in error[0]["message"]
    assert events.types("scratchorg", org.hashid) == [
        "SCRATCH_ORG_UPDATED", "SCRATCH_ORG_ERROR", "SCRATCH_ORG_DELETED"]


def test_a_bad_org_definition_fails_after_the_workspace_exists_and_leaves_nothing(tmp_path,
                                                                                   events):
    repo, _ = git_product(tmp_path, ["{not json"])
    plan = scratch_plan(repo_url=str(repo))
    org = post(plan)
    drain()
    assert not ScratchOrg.objects.filter(pk=org.pk).exists()
    (error,) = [e for e in events.collect() if e["type"] == "SCRATCH_ORG_ERROR"]
    assert "orgs/release.json is not valid JSON" in error["message"]
    assert not PreflightResult.objects.filter(plan=plan).exists()


def test_a_creation_that_died_midway_is_failed_and_removed_when_run_again(events):
    """A worker crash after the workspace existed: the row says where it is."""
    plan = scratch_plan()
    org = post(plan)
    leftover = scratch.scratch_root() / "00DcrashedCrashed1"
    leftover.mkdir(parents=True)
    ScratchOrg.objects.filter(pk=org.pk).update(config={"workspace": str(leftover)}, email=None)
    drain()
    assert not leftover.exists()
    assert not ScratchOrg.objects.filter(pk=org.pk).exists()
    (error,) = [e for e in events.collect() if e["type"] == "SCRATCH_ORG_ERROR"]
    assert error["message"] == CREATION_INTERRUPTED_MESSAGE


def test_a_creation_job_for_a_deleted_org_does_nothing():
    plan = scratch_plan()
    org = post(plan)
    ScratchOrg.objects.filter(pk=org.pk).delete()
    drain()
    assert not Job.objects.exists() and not PreflightResult.objects.exists()


def test_post_404_for_a_scratch_plan_of_a_product_the_caller_may_not_see():
    allowed = catalog_factories.allowed_list()
    plan = scratch_plan()
    plan.version.product.visible_to = allowed
    plan.version.product.save()
    response = APIClient().post(f"/api/plans/{plan.hashid}/scratch_org/", {"email": EMAIL},
                                format="json")
    assert response.status_code == 404
    assert not ScratchOrg.objects.exists() and not deferred("create_scratch_org")


# -- auto-preflight and auto-install ------------------------------------------------------------


def test_a_failed_installation_deletes_the_org_and_keeps_the_job(events):
    plan = scratch_plan(steps=[FAIL_STEP], preflight_checks=[])
    org = post(plan)
    drain()
    job = Job.objects.get(plan=plan)
    assert job.status == Status.FAILED and job.user_id is None
    assert job.full_org_type == "Scratch" and len(job.org_id) == 18
    assert not ScratchOrg.objects.filter(pk=org.pk).exists()
    assert events.types("scratchorg", org.hashid) == [
        "SCRATCH_ORG_CREATED", "JOB_STARTED", "SCRATCH_ORG_UPDATED", "SCRATCH_ORG_DELETED"]


def test_a_canceled_installation_keeps_the_org():
    """A cancel is not a failure: the org is not deleted, it stays for another try."""
    plan = scratch_plan(steps=[FAIL_STEP], preflight_checks=[])
    org = post(plan)
    run_default_only_until_job_exists(org)
    job = Job.objects.get(plan=plan)
    from plandeploy.runs import services

    services.request_cancel_job(job)
    drain()
    job.refresh_from_db()
    org.refresh_from_db()
    assert job.status == Status.CANCELED and org.status == Status.COMPLETE
    destroy(org)


def run_default_only_until_job_exists(org: ScratchOrg) -> None:
    from plandeploy.testing.processes import run_worker_until_idle

    run_worker_until_idle(("default",))
    org.refresh_from_db()
    assert Job.objects.filter(org_id=org.org_id, enqueued_at__isnull=True).exists()


# -- deletion and expiry ------------------------------------------------------------------------


def test_delete_removes_workspace_then_row_keeps_jobs_and_is_idempotent(events):
    plan = scratch_plan(steps=[{**FAIL_STEP, "is_required": False}], preflight_checks=[])
    org = created(plan)
    finished = Job.objects.create(plan=plan, org_id=org.org_id, full_org_type="Scratch",
                                  status=Status.COMPLETE)
    workspace = workspace_of(org)
    assert request_deletion(org.pk) is True
    assert request_deletion(org.pk) is False  # already queued: one deletion job
    assert len(deferred("delete_scratch_org")) == 1
    drain()
    assert not workspace.exists()
    assert not ScratchOrg.objects.filter(pk=org.pk).exists()
    assert Job.objects.get(pk=finished.pk).org_id == org.org_id
    assert events.types("scratchorg", org.hashid)[-2:] == [
        "SCRATCH_ORG_UPDATED", "SCRATCH_ORG_DELETED"]
    # Again, after the row is gone: nothing to do, no error.
    assert delete_scratch_org(org_pk=org.pk) == "missing"


def test_delete_copes_with_a_workspace_that_is_already_gone():
    plan = scratch_plan(steps=[{**FAIL_STEP, "is_required": False}], preflight_checks=[])
    org = created(plan)
    scratch.remove(workspace_of(org))
    assert delete_scratch_org(org_pk=org.pk) == "deleted"
    assert not ScratchOrg.objects.filter(pk=org.pk).exists()


def test_removal_never_touches_a_directory_outside_the_scratch_root(tmp_path):
    plan = scratch_plan()
    outside = tmp_path / "precious"
    outside.mkdir()
    org = ScratchOrg.objects.create(plan=plan, status=Status.COMPLETE, org_id="00DoutsideOutside1",
                                    config={"workspace": str(outside)})
    for path in (outside, scratch.scratch_root(), scratch.scratch_root() / "..",
                 Path("relative")):
        assert scratch.remove(path) is False
    assert delete_scratch_org(org_pk=org.pk) == "deleted"
    assert outside.is_dir()


def test_expiry_removes_expired_failed_and_dead_orgs_only(events):
    plan = scratch_plan(steps=[{**FAIL_STEP, "is_required": False}], preflight_checks=[])
    expired, fresh, failed = created(plan), created(plan), created(plan)
    ScratchOrg.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    ScratchOrg.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    # A creation whose queue job is gone (its worker died and the job was failed).
    dead = ScratchOrg.objects.create(plan=plan, job_id=987654321)
    waiting = post(plan)  # its creation job still waits on the queue: left alone
    counts = run_expire_scratch_orgs()
    assert counts == {"removed": 3, "waiting": 0, "orphans": 0}
    assert set(ScratchOrg.objects.values_list("pk", flat=True)) == {fresh.pk, waiting.pk}
    assert not workspace_of(expired).exists() and not workspace_of(failed).exists()
    assert workspace_of(fresh).is_dir()
    deleted = {e["id"] for e in events.collect() if e["type"] == "SCRATCH_ORG_DELETED"}
    assert deleted == {expired.hashid, failed.hashid, dead.hashid}
    drain()
    destroy(fresh)
    destroy(ScratchOrg.objects.get(pk=waiting.pk))


def test_expiry_removes_workspaces_left_by_a_cascade_delete_of_the_plan():
    """ScratchOrg.plan is CASCADE: deleting a plan deletes the rows, never the workspaces."""
    plan = scratch_plan(steps=[{**FAIL_STEP, "is_required": False}], preflight_checks=[])
    org = created(plan)
    workspace = workspace_of(org)
    being_created = scratch.scratch_root() / "00DbeingCreated123"  # no org_id in a row yet
    being_created.mkdir()
    plan.delete()
    assert not ScratchOrg.objects.exists() and workspace.is_dir()
    long_ago = time.time() - 2 * 3600
    os.utime(workspace, (long_ago, long_ago))
    assert run_expire_scratch_orgs()["orphans"] == 1
    assert not workspace.exists() and being_created.is_dir()
    scratch.remove(being_created)


def test_admin_delete_queues_the_deletion_instead_of_deleting(client):
    plan = scratch_plan(steps=[{**FAIL_STEP, "is_required": False}], preflight_checks=[])
    one, two, three = created(plan), created(plan), created(plan)
    client.force_login(catalog_factories.user(superuser=True))
    assert client.get("/admin/runs/scratchorg/").status_code == 200
    page = client.get(f"/admin/runs/scratchorg/{one.pk}/change/")
    assert page.status_code == 200 and EMAIL not in page.content.decode()
    response = client.post(f"/admin/runs/scratchorg/{one.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    response = client.post("/admin/runs/scratchorg/", {
        "action": "delete_selected", "_selected_action": [two.pk, three.pk], "post": "yes"})
    assert response.status_code == 302
    # Nothing deleted in place: three deletion jobs wait.
    assert ScratchOrg.objects.count() == 3
    assert sorted(row["args"]["org_pk"] for row in deferred("delete_scratch_org")) == sorted(
        [one.pk, two.pk, three.pk])
    drain()
    assert not ScratchOrg.objects.exists()
    assert queue.queue_length("default") == 0


def test_expire_scratch_orgs_is_a_periodic_job_on_its_named_schedule():
    from procrastinate.contrib.django import app

    from plandeploy.schedules import DEFAULT_SCHEDULES

    periodic = {task.periodic_id: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["expire_scratch_orgs"].task.name == "expire_scratch_orgs"
    assert periodic["expire_scratch_orgs"].cron == DEFAULT_SCHEDULES["expire_scratch_orgs"]
    assert scratch_orgs.expire_scratch_orgs.queue == "short"
    assert scratch_orgs.create_scratch_org.queue == "default"
    assert scratch_orgs.delete_scratch_org.queue == "default"
