"""GET /api/user/, GET /api/orgs/ and POST /api/orgs/connect/ (local orgs)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from plandeploy.accounts.models import OrgConnection
from plandeploy.api.tests.helpers import complete_scratch_org, hold_scratch_org
from plandeploy.catalog.tests import factories
from plandeploy.orgs import workspaces
from plandeploy.runs.models import Job, PreflightResult, Status

pytestmark = pytest.mark.django_db


def test_user_requires_auth_and_shows_token_state(client):
    assert client.get("/api/user/").status_code == 401
    user = factories.user()
    client.force_authenticate(user)
    body = client.get("/api/user/").json()
    assert set(body) == {"id", "username", "email", "valid_token_for", "org_name", "org_type",
                         "is_production_org", "is_staff"}
    assert body["valid_token_for"] == user.org_id and body["id"] == user.hashid
    client.force_authenticate(factories.user(token=False))
    assert client.get("/api/user/").json()["valid_token_for"] is None


def test_api_token_auth_works_on_public_api(client):
    user = factories.user()
    key = factories.api_token(user)
    client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    assert client.get("/api/user/").json()["id"] == user.hashid
    client.credentials(HTTP_AUTHORIZATION="token wrong")
    assert client.get("/api/user/").status_code == 401


def test_connect_local_org(client, tmp_path):
    user = factories.user(connected=False)
    assert client.post("/api/orgs/connect/", {}, format="json").status_code == 401
    client.force_authenticate(user)
    response = client.post("/api/orgs/connect/", {"name": "My org"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert len(body["org_id"]) == 18 and body["org_name"] == "My org"
    assert body["org_type"] == "local" and body["full_org_type"] == "Developer"
    row = OrgConnection.objects.get(user=user)
    # Recorded relative to the shared root, so every host resolves it below its own mount.
    assert row.workspace == row.org_id
    workspace = workspaces.resolve(row.workspace)
    assert workspace.is_dir() and workspace.parent == settings.LOCAL_ORGS_ROOT
    assert workspace.name == row.org_id
    first_token = row.access_token
    assert first_token and row.token_created_at
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM accounts_orgconnection WHERE id = %s", [row.pk])
        stored = cursor.fetchone()[0]
    assert first_token not in stored  # encrypted at rest

    again = client.post("/api/orgs/connect/", {}, format="json").json()
    row.refresh_from_db()
    assert again["org_id"] == body["org_id"] and row.org_name == "My org"
    assert row.access_token != first_token
    assert client.post("/api/orgs/connect/", {"name": ["x"]}, format="json").status_code == 400
    assert client.post("/api/orgs/connect/", {"name": "x" * 300},
                       format="json").status_code == 400
    workspace.rmdir()


def test_orgs_shows_own_org_status(client):
    assert client.get("/api/orgs/").json() == {}
    user = factories.user()
    plan = factories.plan()
    client.force_authenticate(user)
    job = Job.objects.create(plan=plan, org_id=user.org_id, user=user)
    body = client.get("/api/orgs/").json()
    assert body == {user.org_id: {
        "org_id": user.org_id,
        "current_job": {"id": job.hashid, "product_slug": plan.version.product.slug,
                        "version_label": plan.version.label, "plan_slug": plan.slug,
                        "plan_average_duration": None},
        "current_preflight": None,
    }}
    # One run or preflight per org at a time: the preflight comes after the job.
    Job.objects.filter(pk=job.pk).update(status=Status.COMPLETE)
    preflight = PreflightResult.objects.create(plan=plan, org_id=user.org_id, user=user)
    body = client.get("/api/orgs/").json()
    assert body[user.org_id]["current_job"] is None
    assert body[user.org_id]["current_preflight"] == str(preflight.pk)


def test_orgs_lists_session_scratch_org_first(client):
    plan = factories.plan(supported_orgs="Scratch")
    scratch = complete_scratch_org(plan)
    hold_scratch_org(client, scratch)
    user = factories.user()
    client.force_login(user)
    assert list(client.get("/api/orgs/").json()) == [scratch.org_id, user.org_id]
