"""Scratch-org sessions: no fixation through links, the uuid shown once, a guarded cookie."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from plandeploy.api.tests.helpers import hold_scratch_org
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import ScratchOrg

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def room_in_the_queue(settings):
    settings.MAX_QUEUE_LENGTH = 10**6


def test_a_link_does_not_replace_the_org_a_session_already_holds():
    plan = factories.plan(supported_orgs="Scratch")
    mine, theirs = ScratchOrg.objects.create(plan=plan), ScratchOrg.objects.create(plan=plan)
    client = APIClient()
    hold_scratch_org(client, mine)
    client.get(f"/api/plans/{plan.hashid}/", {"scratch_org_id": str(theirs.uuid)})
    client.get(f"/api/plans/{plan.hashid}/scratch_org/", {"scratch_org_id": str(theirs.uuid)})
    assert client.session["scratch_org_id"] == str(mine.uuid)


def test_a_link_binds_a_session_without_an_org_or_whose_org_is_gone():
    plan = factories.plan(supported_orgs="Scratch")
    shared = ScratchOrg.objects.create(plan=plan)
    fresh = APIClient()
    fresh.get(f"/api/plans/{plan.hashid}/", {"scratch_org_id": str(shared.uuid)})
    assert fresh.session["scratch_org_id"] == str(shared.uuid)

    stale = APIClient()
    gone = ScratchOrg.objects.create(plan=plan)
    hold_scratch_org(stale, gone)
    gone.delete()
    stale.get(f"/api/plans/{plan.hashid}/", {"scratch_org_id": str(shared.uuid)})
    assert stale.session["scratch_org_id"] == str(shared.uuid)


def test_switching_orgs_needs_the_confirming_post_with_csrf():
    plan = factories.plan(supported_orgs="Scratch")
    mine, theirs = ScratchOrg.objects.create(plan=plan), ScratchOrg.objects.create(plan=plan)
    client = APIClient(enforce_csrf_checks=True)
    hold_scratch_org(client, mine)
    url = f"/api/plans/{plan.hashid}/scratch_org/claim/"
    refused = client.post(url, {"uuid": str(theirs.uuid)}, format="json")
    assert refused.status_code == 403 and refused.json()["detail"].startswith("CSRF Failed")
    assert client.session["scratch_org_id"] == str(mine.uuid)

    client.get("/api/ui/bootstrap/")
    headers = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}
    before = client.session.session_key
    response = client.post(url, {"uuid": str(theirs.uuid)}, format="json", **headers)
    assert response.status_code == 200, response.content
    assert response.json()["id"] == theirs.hashid and "uuid" not in response.json()
    assert client.session["scratch_org_id"] == str(theirs.uuid)
    assert client.session.session_key != before

    other_plan = factories.plan(supported_orgs="Scratch")
    wrong_plan = client.post(f"/api/plans/{other_plan.hashid}/scratch_org/claim/",
                             {"uuid": str(mine.uuid)}, format="json", **headers)
    assert wrong_plan.status_code == 404
    assert client.post(url, {"uuid": "nope"}, format="json", **headers).status_code == 400


def test_the_uuid_is_shown_to_the_creating_post_only():
    plan = factories.plan(supported_orgs="Scratch")
    client = APIClient()
    created = client.post(f"/api/plans/{plan.hashid}/scratch_org/", {"email": "a@example.com"},
                          format="json")
    assert created.status_code == 202
    assert created.json()["uuid"] == str(ScratchOrg.objects.get().uuid)
    read = client.get(f"/api/plans/{plan.hashid}/scratch_org/")
    assert read.status_code == 200 and "uuid" not in read.json()
    assert str(ScratchOrg.objects.get().uuid) not in read.content.decode()


def test_the_session_cookie_is_httponly_and_samesite_lax():
    plan = factories.plan(supported_orgs="Scratch")
    client = APIClient()
    client.post(f"/api/plans/{plan.hashid}/scratch_org/", {"email": "a@example.com"},
                format="json")
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # plain HTTP unless SECURE_DEPLOYMENT (test_headers)
