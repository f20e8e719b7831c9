"""CSRF on every write a browser's cookies authorize; API-token calls need none."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from plandeploy.api.tests.helpers import complete_preflight, complete_scratch_org, hold_scratch_org
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def room_in_the_queue(settings):
    # Queue rows other tests committed must not make a scratch-org request a 503 here.
    settings.MAX_QUEUE_LENGTH = 10**6


def browser() -> APIClient:
    return APIClient(enforce_csrf_checks=True)


def csrf_headers(client: APIClient) -> dict[str, str]:
    """What a page's script sends: the cookie GET /api/ui/bootstrap/ set, echoed in a header."""
    assert client.get("/api/ui/bootstrap/").status_code == 200
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def assert_csrf_refused(response) -> None:
    assert response.status_code == 403, response.content
    assert response.json()["detail"].startswith("CSRF Failed")


def test_anonymous_scratch_org_request_needs_csrf():
    plan = factories.plan(supported_orgs="Scratch")
    client = browser()
    url = f"/api/plans/{plan.hashid}/scratch_org/"
    assert_csrf_refused(client.post(url, {"email": "a@example.com"}, format="json"))
    assert not ScratchOrg.objects.exists()
    assert "scratch_org_id" not in client.session

    response = client.post(url, {"email": "a@example.com"}, format="json", **csrf_headers(client))
    assert response.status_code == 202, response.content
    assert client.session["scratch_org_id"] == str(ScratchOrg.objects.get().uuid)


def test_a_scratch_session_cannot_be_made_to_run_cancel_or_publish_cross_site():
    plan = factories.plan(steps=1, supported_orgs="Scratch")
    scratch = complete_scratch_org(plan)
    client = browser()
    hold_scratch_org(client, scratch)
    preflight_url = f"/api/plans/{plan.hashid}/preflight/"
    assert_csrf_refused(client.post(preflight_url))
    assert not PreflightResult.objects.exists()
    body = {"plan": plan.hashid, "steps": [plan.steps.get().hashid]}
    assert_csrf_refused(client.post("/api/jobs/", body, format="json"))
    assert not Job.objects.exists()

    job = Job.objects.create(plan=plan, org_id=scratch.org_id)
    assert_csrf_refused(client.patch(f"/api/jobs/{job.hashid}/", {"is_public": True},
                                     format="json"))
    assert_csrf_refused(client.delete(f"/api/jobs/{job.hashid}/"))
    job.refresh_from_db()
    assert not job.is_public and job.status == Status.STARTED

    # One run or preflight per org at a time: the job ends before a preflight runs.
    Job.objects.filter(pk=job.pk).update(status=Status.COMPLETE)
    running = PreflightResult.objects.create(plan=plan, org_id=scratch.org_id)
    assert_csrf_refused(client.delete(preflight_url))
    running.refresh_from_db()
    assert running.status == Status.STARTED

    headers = csrf_headers(client)
    response = client.patch(f"/api/jobs/{job.hashid}/", {"is_public": True}, format="json",
                            **headers)
    assert response.status_code == 200, response.content


def test_signed_in_session_writes_need_csrf():
    user = factories.user()
    plan = factories.plan(steps=1)
    complete_preflight(plan, user.org_id, user)
    client = browser()
    client.force_login(user)
    body = {"plan": plan.hashid, "steps": [plan.steps.get().hashid]}
    assert_csrf_refused(client.post("/api/jobs/", body, format="json"))
    assert_csrf_refused(client.post(f"/api/plans/{plan.hashid}/preflight/"))
    assert_csrf_refused(client.post("/api/orgs/connect/", {"name": "x"}, format="json"))
    assert not Job.objects.exists()
    response = client.post("/api/jobs/", body, format="json", **csrf_headers(client))
    assert response.status_code == 201, response.content


def test_staff_session_on_the_admin_api_needs_csrf():
    client = browser()
    client.force_login(factories.user(superuser=True))
    assert_csrf_refused(client.post("/admin/rest/productcategory", {"title": "Tools"},
                                    format="json"))
    assert_csrf_refused(client.patch("/admin/rest/translations/es",
                                     {"acme:product": {"title": {"message": "x"}}},
                                     format="json"))
    response = client.post("/admin/rest/productcategory", {"title": "Tools"}, format="json",
                           **csrf_headers(client))
    assert response.status_code == 201, response.content


def test_api_token_calls_need_no_csrf_even_with_a_session_cookie():
    user = factories.user(superuser=True)
    plan = factories.plan(steps=1)
    complete_preflight(plan, user.org_id, user)
    client = browser()
    client.force_login(user)  # a stale browser session must not drag CSRF into token calls
    client.credentials(HTTP_AUTHORIZATION=f"token {factories.api_token(user)}")
    response = client.post("/admin/rest/productcategory", {"title": "Tools"}, format="json")
    assert response.status_code == 201, response.content
    body = {"plan": plan.hashid, "steps": [plan.steps.get().hashid]}
    assert client.post("/api/jobs/", body, format="json").status_code == 201


def test_a_cross_site_origin_is_refused_even_with_the_token():
    plan = factories.plan(supported_orgs="Scratch")
    client = browser()
    headers = csrf_headers(client)
    response = client.post(f"/api/plans/{plan.hashid}/scratch_org/", {"email": "a@example.com"},
                           format="json", HTTP_ORIGIN="https://evil.example", **headers)
    assert_csrf_refused(response)
    assert not ScratchOrg.objects.exists()
