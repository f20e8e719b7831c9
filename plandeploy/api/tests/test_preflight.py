"""GET/POST/DELETE /api/plans/<id>/preflight/: one at a time per org, the same org for all."""

from __future__ import annotations

import pytest

from plandeploy.api.tests.helpers import complete_scratch_org, deferred, hold_scratch_org
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job, PreflightResult, Status

pytestmark = pytest.mark.django_db


def test_post_creates_preflight_and_defers_preflight_job(client):
    user = factories.user()
    plan = factories.plan(checks=True)
    client.force_authenticate(user)
    response = client.post(f"/api/plans/{plan.hashid}/preflight/")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "instance_url", "org_id", "user", "plan", "created_at",
                         "edited_at", "is_valid", "status", "results", "error_count",
                         "warning_count", "is_ready"}
    assert body["org_id"] == user.org_id and body["user"] == user.hashid
    assert body["status"] == "started" and body["is_ready"] is False
    preflight = PreflightResult.objects.get(pk=int(body["id"]))
    mine = [row for row in deferred("preflight_job")
            if row["args"] == {"preflight_pk": preflight.pk}]
    assert mine == [{"args": {"preflight_pk": preflight.pk}, "queue": "default"}]
    assert client.get(f"/api/plans/{plan.hashid}/preflight/").json()["id"] == body["id"]


def test_get_without_org_or_preflight_is_404(client):
    plan = factories.plan()
    assert client.get(f"/api/plans/{plan.hashid}/preflight/").status_code == 404
    client.force_authenticate(factories.user())
    assert client.get(f"/api/plans/{plan.hashid}/preflight/").status_code == 404
    assert client.get("/api/plans/nope/preflight/").json() == {"detail": "Not found."}


def test_post_refusals(client):
    plan = factories.plan()
    assert client.post(f"/api/plans/{plan.hashid}/preflight/").status_code == 403
    restricted = factories.plan(visible_to=factories.allowed_list())
    client.force_authenticate(factories.user())
    assert client.post(f"/api/plans/{restricted.hashid}/preflight/").status_code == 403
    client.force_authenticate(factories.user(token=False))
    response = client.post(f"/api/plans/{plan.hashid}/preflight/")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The connection to your org has been lost. Please log in again."
    }
    assert not PreflightResult.objects.exists()


def test_one_preflight_at_a_time_and_none_during_a_job(client):
    user = factories.user()
    plan = factories.plan()
    client.force_authenticate(user)
    first = client.post(f"/api/plans/{plan.hashid}/preflight/").json()
    response = client.post(f"/api/plans/{plan.hashid}/preflight/")
    assert response.status_code == 400
    assert response.json() == {"detail": f"Preflight {first['id']} is already running on this org."}
    PreflightResult.objects.update(status=Status.COMPLETE)
    job = Job.objects.create(plan=plan, org_id=user.org_id, user=user)
    response = client.post(f"/api/plans/{plan.hashid}/preflight/")
    assert response.status_code == 400
    assert job.hashid in response.json()["detail"]
    assert PreflightResult.objects.count() == 1


def test_get_and_post_use_the_same_org(client):
    """A signed-in user who also holds a scratch session reads the preflight they created."""
    user = factories.user()
    plan = factories.plan(supported_orgs="Both")
    scratch = complete_scratch_org(plan)
    PreflightResult.objects.create(plan=plan, org_id=scratch.org_id, status=Status.COMPLETE)
    hold_scratch_org(client, scratch)
    client.force_login(user)
    created = client.post(f"/api/plans/{plan.hashid}/preflight/").json()
    assert created["org_id"] == user.org_id
    assert client.get(f"/api/plans/{plan.hashid}/preflight/").json()["id"] == created["id"]


def test_scratch_session_runs_preflight_for_its_own_plan_only(client):
    plan = factories.plan(supported_orgs="Scratch")
    other = factories.plan(supported_orgs="Scratch")
    hold_scratch_org(client, complete_scratch_org(plan))
    assert client.post(f"/api/plans/{other.hashid}/preflight/").status_code == 403
    response = client.post(f"/api/plans/{plan.hashid}/preflight/")
    assert response.status_code == 201
    assert response.json()["org_id"] == "00DSCRATCH00000001"
    assert response.json()["user"] is None


def test_delete_cancels_the_running_preflight(client):
    user = factories.user()
    plan = factories.plan()
    client.force_authenticate(user)
    assert client.delete(f"/api/plans/{plan.hashid}/preflight/").status_code == 404
    created = client.post(f"/api/plans/{plan.hashid}/preflight/").json()
    client.force_authenticate(factories.user())
    assert client.delete(f"/api/plans/{plan.hashid}/preflight/").status_code == 404
    client.force_authenticate(user)
    assert client.delete(f"/api/plans/{plan.hashid}/preflight/").status_code == 204
    preflight = PreflightResult.objects.get(pk=int(created["id"]))
    assert preflight.status == Status.CANCELED
    # The waiting queue row is gone too.
    assert {"preflight_pk": preflight.pk} not in [row["args"] for row in deferred("preflight_job")]
    client.force_authenticate(None)
    assert client.delete(f"/api/plans/{plan.hashid}/preflight/").status_code == 401
