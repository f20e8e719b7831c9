"""POST/GET/PATCH/DELETE /api/jobs/: validation order, permissions, masking."""

from __future__ import annotations

import pytest

from plandeploy.api.tests.helpers import (
    complete_preflight,
    complete_scratch_org,
    deferred,
    hold_scratch_org,
)
from plandeploy.catalog.tests import factories
from plandeploy.jobs.enqueuer import enqueue_pending
from plandeploy.runs.models import Job, Status

pytestmark = pytest.mark.django_db


def _post(client, plan, steps=None, **extra):
    body = {"plan": plan.hashid, "steps": [s.hashid for s in (steps or plan.steps.all())]}
    body.update(extra)
    return client.post("/api/jobs/", body, format="json")


def test_create_job_inserts_steps_and_defers_enqueuer_in_one_go(client):
    user = factories.user()
    plan = factories.plan(steps=3)
    client.force_authenticate(user)
    response = _post(client, plan)
    assert response.status_code == 201, response.json()
    body = response.json()
    job = Job.objects.get(pk=Job.pk_from_hashid(body["id"]))
    assert job.status == Status.STARTED
    assert job.org_id == user.org_id and job.user == user
    assert sorted(body["steps"]) == sorted(s.hashid for s in plan.steps.all())
    assert job.steps.count() == 3
    # An enqueuer_job waits for it: deferred for it, or an earlier one it joined.
    assert deferred("enqueuer_job")
    assert enqueue_pending() >= 1
    job.refresh_from_db()
    assert job.enqueued_at is not None
    assert body["org_id"] == user.org_id
    assert body["user_can_edit"] is True
    assert body["creator"]["username"]
    assert body["message"] == "<p>Thanks <em>for</em> installing.</p>\n"
    for field in ("log", "exception"):
        assert field not in body


def test_list_is_405(client):
    client.force_authenticate(factories.user())
    assert client.get("/api/jobs/").status_code == 405


def test_anonymous_without_scratch_org_gets_401(client):
    plan = factories.plan()
    response = _post(client, plan)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"plan": ["This field is required."], "steps": ["This field is required."]}),
        ({"plan": "zzzzzzz", "steps": []},
         {"plan": ['Invalid pk "zzzzzzz" - object does not exist.']}),
        ({"plan": 5, "steps": []},
         {"plan": ["Incorrect type. Expected pk value, received int."]}),
        ({"plan": None, "steps": "x"}, {"plan": ["This field may not be null."],
                                        "steps": ['Expected a list of items but got type "str".']}),
    ],
)
def test_field_errors(client, body, errors):
    client.force_authenticate(factories.user())
    response = client.post("/api/jobs/", body, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert not Job.objects.exists()


def test_restricted_plan_and_product_are_refused(client):
    user = factories.user()
    client.force_authenticate(user)
    plan = factories.plan(visible_to=factories.allowed_list())
    assert _post(client, plan).json() == {"plan": ["You are not allowed to install this plan."]}
    product = factories.product(visible_to=factories.allowed_list())
    plan = factories.plan(factories.version(product))
    assert _post(client, plan).json() == {
        "plan": ["You are not allowed to install this product."]
    }


def test_a_refused_plan_is_reported_with_the_other_field_errors(client):
    client.force_authenticate(factories.user())
    plan = factories.plan(visible_to=factories.allowed_list())
    response = client.post("/api/jobs/", {"plan": plan.hashid, "steps": ["zzzzzzz"]},
                           format="json")
    assert response.status_code == 400
    assert response.json() == {
        "plan": ["You are not allowed to install this plan."],
        "steps": ['Invalid pk "zzzzzzz" - object does not exist.'],
    }
    assert not Job.objects.exists()


def _non_field(response) -> list[str]:
    assert response.status_code == 400, response.json()
    return response.json()["non_field_errors"]


def test_validation_order(client):
    """No org -> no preflight -> bad steps -> bad results -> pending job -> lost token."""
    plan = factories.plan(steps=3, checks=True)
    orgless = factories.user(connected=False)
    client.force_authenticate(orgless)
    assert _non_field(_post(client, plan)) == ["No valid org."]

    user = factories.user(token=False)
    client.force_authenticate(user)
    assert _non_field(_post(client, plan)) == ["No valid preflight."]
    complete_preflight(plan, user.org_id, user, results={plan.steps.first().hashid: [
        {"status": "error", "message": "no"}]})
    assert _non_field(_post(client, plan)) == ["No valid preflight."]
    complete_preflight(plan, user.org_id, user)

    first = plan.steps.first()
    assert _non_field(_post(client, plan, steps=[first])) == ["Invalid steps for plan."]
    assert _non_field(_post(client, plan, results={first.hashid: [{"status": "ok"}]})) == [
        "Invalid initial results."
    ]
    assert _non_field(_post(client, plan, results={"plan": [{"status": "hide"}]})) == [
        "Invalid initial results."
    ]
    running = Job.objects.create(plan=plan, org_id=user.org_id, user=user)
    assert _non_field(_post(client, plan)) == [
        f"Pending job {running.hashid} exists. Please try again later, or cancel that job."
    ]
    Job.objects.filter(pk=running.pk).update(status=Status.COMPLETE)
    assert _non_field(_post(client, plan)) == [
        "The connection to your org has been lost. Please log in again."
    ]
    assert Job.objects.count() == 1


def test_preflight_optional_result_lets_a_required_step_be_left_out(client):
    user = factories.user()
    client.force_authenticate(user)
    plan = factories.plan(steps=2, checks=True)
    first, second = plan.steps.all()
    complete_preflight(plan, user.org_id, user, results={second.hashid: [{"status": "optional"}]})
    assert _post(client, plan, steps=[first]).status_code == 201


def test_steps_of_another_plan_are_refused(client):
    user = factories.user()
    client.force_authenticate(user)
    plan, other = factories.plan(steps=1), factories.plan(steps=1)
    steps = list(plan.steps.all()) + list(other.steps.all())
    assert _non_field(_post(client, plan, steps=steps)) == ["Invalid steps for plan."]
    assert not Job.objects.exists()


def test_scratch_session_may_install_only_its_own_plan(client):
    plan = factories.plan(supported_orgs="Scratch")
    other = factories.plan(supported_orgs="Scratch")
    hold_scratch_org(client, complete_scratch_org(plan))
    assert _non_field(_post(client, other)) == ["No valid org."]
    response = _post(client, plan)
    assert response.status_code == 201
    body = response.json()
    job = Job.objects.get(pk=Job.pk_from_hashid(body["id"]))
    assert job.user is None and job.full_org_type == "Scratch"
    assert body["org_id"] == "00DSCRATCH00000001"
    assert body["user_can_edit"] is True
    assert body["creator"] is None


def test_scratch_session_with_incomplete_org_has_no_valid_org(client):
    plan = factories.plan(supported_orgs="Scratch")
    scratch = complete_scratch_org(plan)
    scratch.status = Status.STARTED
    scratch.save()
    hold_scratch_org(client, scratch)
    assert _non_field(_post(client, plan)) == ["No valid org."]


def _job(user, plan, **fields):
    return Job.objects.create(plan=plan, org_id=user.org_id, user=user, **fields)


def test_visibility_and_masking(client):
    owner, other = factories.user(), factories.user()
    staff = factories.user(staff=True)
    plan = factories.plan()
    private = _job(owner, plan, status=Status.COMPLETE)
    public = Job.objects.create(plan=plan, org_id="00DOTHER0000000001", user=other,
                                is_public=True)

    assert client.get(f"/api/jobs/{private.hashid}/").status_code == 404
    masked = client.get(f"/api/jobs/{public.hashid}/").json()
    assert masked["org_id"] is None and masked["creator"] is None
    assert masked["org_name"] is None and masked["instance_url"] is None
    assert masked["user_can_edit"] is False

    client.force_authenticate(other)
    assert client.get(f"/api/jobs/{private.hashid}/").status_code == 404
    client.force_authenticate(owner)
    assert client.get(f"/api/jobs/{private.hashid}/").json()["org_id"] == owner.org_id
    client.force_authenticate(staff)
    body = client.get(f"/api/jobs/{private.hashid}/").json()
    assert body["org_id"] == owner.org_id and body["user_can_edit"] is False
    assert client.get("/api/jobs/nonsense/").json() == {"detail": "Not found."}


def test_patch_only_is_public_and_only_by_owner_or_superuser(client):
    owner, other = factories.user(), factories.user()
    plan = factories.plan()
    job = _job(owner, plan, is_public=True, status=Status.COMPLETE)

    response = client.patch(f"/api/jobs/{job.hashid}/", {"is_public": False}, format="json")
    assert response.status_code == 401
    client.force_authenticate(other)
    response = client.patch(f"/api/jobs/{job.hashid}/", {"is_public": False}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}
    client.force_authenticate(factories.user(staff=True))
    assert client.patch(f"/api/jobs/{job.hashid}/", {"is_public": False},
                        format="json").status_code == 403
    assert Job.objects.get(pk=job.pk).is_public is True

    client.force_authenticate(owner)
    other_plan = factories.plan()
    response = client.patch(
        f"/api/jobs/{job.hashid}/",
        {"is_public": False, "plan": other_plan.hashid, "steps": []}, format="json",
    )
    assert response.status_code == 400  # plan and steps are not writable
    assert set(response.json()) == {"plan", "steps"}
    assert Job.objects.get(pk=job.pk).plan_id == plan.pk
    response = client.patch(f"/api/jobs/{job.hashid}/", {"is_public": "maybe"}, format="json")
    assert response.status_code == 400
    response = client.patch(f"/api/jobs/{job.hashid}/", {"is_public": False}, format="json")
    assert response.status_code == 200 and response.json()["is_public"] is False

    client.force_authenticate(factories.user(superuser=True))
    response = client.patch(f"/api/jobs/{job.hashid}/", {"is_public": True}, format="json")
    assert response.status_code == 200
    assert Job.objects.get(pk=job.pk).user_id == owner.pk


def test_delete_cancels_a_waiting_job(client):
    owner = factories.user()
    plan = factories.plan()
    client.force_authenticate(owner)
    created = _post(client, plan).json()
    client.force_authenticate(factories.user(staff=True))
    assert client.delete(f"/api/jobs/{created['id']}/").status_code == 403
    client.force_authenticate(owner)
    response = client.delete(f"/api/jobs/{created['id']}/")
    assert response.status_code == 204
    job = Job.objects.get(pk=Job.pk_from_hashid(created["id"]))
    assert job.status == Status.CANCELED and job.cancel_requested_at is not None
    assert Job.objects.filter(pk=job.pk).exists()  # cancel keeps the row


def test_scratch_org_without_org_id_matches_no_orgless_jobs(client):
    plan = factories.plan(supported_orgs="Scratch")
    orgless_job = Job.objects.create(plan=plan, org_id=None, user=None, status=Status.FAILED)
    creating = complete_scratch_org(plan)
    creating.status, creating.org_id = Status.STARTED, None
    creating.save()
    hold_scratch_org(client, creating)
    assert client.get(f"/api/jobs/{orgless_job.hashid}/").status_code == 404
    assert client.get("/api/orgs/").json() == {}


def test_csrf_is_enforced_for_scratch_session_credentials():
    """An anonymous session's scratch org is a credential, so its writes need CSRF."""
    from rest_framework.test import APIClient

    plan = factories.plan(supported_orgs="Scratch")
    client = APIClient(enforce_csrf_checks=True)
    hold_scratch_org(client, complete_scratch_org(plan))
    response = _post(client, plan)
    assert response.status_code == 403
    assert response.json()["detail"].startswith("CSRF Failed")
    assert not Job.objects.exists()


def test_post_while_a_preflight_runs_on_the_org_is_refused(client):
    """A plan run and a preflight on one org at once would fight over the org."""
    user = factories.user()
    plan = factories.plan(steps=1)
    client.force_authenticate(user)
    preflight = client.post(f"/api/plans/{plan.hashid}/preflight/").json()
    response = _post(client, plan)
    assert response.status_code == 400
    assert _non_field(response) == [
        f"Preflight {preflight['id']} is already running on this org."
    ]
    assert not Job.objects.exists()
