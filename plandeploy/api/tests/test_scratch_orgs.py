"""POST/GET /api/plans/<id>/scratch_org/ and the session credential it binds."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from django.db import connections
from django.test import override_settings
from rest_framework.test import APIClient

from plandeploy import queue, taskdefs
from plandeploy.api.tests.helpers import deferred
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import ScratchOrg

EMAIL = {"email": "someone@example.com"}


def _post(client, plan, body=EMAIL):
    return client.post(f"/api/plans/{plan.hashid}/scratch_org/", body, format="json")


@pytest.mark.django_db
def test_post_creates_org_defers_creation_and_binds_session(client):
    plan = factories.plan(supported_orgs="Both")
    # Queue rows left by earlier tests that committed are not ours to delete: count past them.
    with override_settings(MAX_QUEUE_LENGTH=queue.queue_length("default") + 1):
        response = _post(client, plan)
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "plan", "enqueued_at", "created_at", "edited_at", "expires_at",
                         "status", "org_id", "uuid"}
    assert body["status"] == "started" and body["org_id"] is None and body["expires_at"] is None
    assert "email" not in body
    org = ScratchOrg.objects.get(uuid=body["uuid"])
    assert org.email == "someone@example.com" and org.job_id is not None
    rows = [row for row in deferred("create_scratch_org") if row["args"] == {"org_pk": org.pk}]
    assert rows == [{"args": {"org_pk": org.pk}, "queue": "default"}]
    assert client.session["scratch_org_id"] == body["uuid"]
    assert client.get(f"/api/plans/{plan.hashid}/scratch_org/").json()["id"] == org.hashid


@pytest.mark.django_db
def test_error_statuses(client):
    both = factories.plan(supported_orgs="Both")
    with override_settings(SCRATCH_ORGS_ENABLED=False):
        assert _post(client, both).status_code == 501
    unlisted = factories.plan(supported_orgs="Both", is_listed=False)
    assert _post(client, unlisted).status_code == 404
    assert client.post("/api/plans/nope/scratch_org/", EMAIL, format="json").status_code == 404
    persistent = factories.plan()
    response = _post(client, persistent)
    assert response.status_code == 409
    assert response.json() == {"detail": "This plan does not support creating a scratch org."}
    assert _post(client, both, {}).json() == {"email": ["This field is required."]}
    assert _post(client, both, {"email": "nope"}).json() == {
        "email": ["Enter a valid email address."]
    }
    assert _post(client, both, {"email": ["a@b.c"]}).status_code == 400
    assert not ScratchOrg.objects.exists()
    assert client.get(f"/api/plans/{both.hashid}/scratch_org/").status_code == 404


@pytest.mark.django_db
def test_checks_run_in_order_availability_plan_support_body(client):
    """A request with several faults gets the first one's error, in the documented order."""
    persistent = factories.plan()
    with override_settings(SCRATCH_ORGS_ENABLED=False):
        assert client.post("/api/plans/nope/scratch_org/", {}, format="json").status_code == 501
        assert _post(client, persistent, {}).status_code == 501
    assert client.post("/api/plans/nope/scratch_org/", {}, format="json").status_code == 404
    assert _post(client, persistent, {"email": "nope"}).status_code == 409
    assert not ScratchOrg.objects.exists()


@pytest.mark.django_db
def test_503_when_queue_is_full(client):
    plan = factories.plan(supported_orgs="Scratch")
    with override_settings(MAX_QUEUE_LENGTH=queue.queue_length("default") + 2):
        for _ in range(2):
            replace(taskdefs.ping, queue="default").defer()
        response = _post(client, plan)
    assert response.status_code == 503
    assert response.json() == {"detail": "Queue is overfull. Try again later."}
    assert not ScratchOrg.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_burst_of_30_never_queues_more_than_max():
    plan = factories.plan(supported_orgs="Scratch")
    codes: list[int] = []
    barrier = threading.Barrier(30)

    def post():
        try:
            client = APIClient()
            barrier.wait(timeout=20)
            codes.append(_post(client, plan).status_code)
        finally:
            connections.close_all()

    baseline = queue.queue_length("default")
    with override_settings(MAX_QUEUE_LENGTH=baseline + 15):
        threads = [threading.Thread(target=post) for _ in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(codes) == [202] * 15 + [503] * 15
    assert queue.queue_length("default") == baseline + 15
    assert ScratchOrg.objects.count() == 15


@pytest.mark.django_db
def test_query_parameter_binds_only_on_the_plans_page(client):
    plan = factories.plan(supported_orgs="Scratch")
    other = factories.plan(supported_orgs="Scratch")
    org = ScratchOrg.objects.create(plan=plan)
    for url in ("/api/orgs/", "/api/ui/bootstrap/", f"/api/plans/{other.hashid}/",
                "/api/products/"):
        client.get(url, {"scratch_org_id": str(org.uuid)})
        assert "scratch_org_id" not in client.session, url
    client.get(f"/api/plans/{plan.hashid}/", {"scratch_org_id": "not-a-uuid"})
    assert "scratch_org_id" not in client.session
    before = client.session.session_key
    client.get(f"/api/plans/{plan.hashid}/", {"scratch_org_id": str(org.uuid)})
    assert client.session["scratch_org_id"] == str(org.uuid)
    assert client.session.session_key != before  # binding rotates the session id
