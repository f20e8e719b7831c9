"""GET /api/jobs/<id>/ answers exactly what JobSerializer says, to exactly whom visible_jobs
allows, for every kind of job and viewer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from plandeploy.accounts.models import FullOrgType
from plandeploy.api.querysets import job_queryset, visible_jobs
from plandeploy.api.serializers.runs import JobSerializer
from plandeploy.api.tests.helpers import complete_scratch_org, hold_scratch_org
from plandeploy.catalog.models import Step, Version
from plandeploy.catalog.tests import factories
from plandeploy.hashids import encode
from plandeploy.runs.models import Job, Status


def _results(steps, status: str) -> dict:
    return {step.hashid: [{"status": status, "message": "ünïcode ✓"}] for step in steps}


@pytest.fixture
def world():
    plan = factories.plan(steps=4)
    other_plan = factories.plan(steps=2)  # its version is superseded below
    Version.objects.filter(pk=other_plan.version_id).update(
        created_at=timezone.now() - timedelta(days=2))
    factories.version(other_plan.version.product, label="9.9", is_listed=True)
    owner = factories.user()
    owner_prod = factories.user(full_org_type=FullOrgType.PRODUCTION)
    other = factories.user()
    staff = factories.user(staff=True)
    steps = list(plan.steps.all())
    scratch = complete_scratch_org(plan, org_id="00DSCRATCH00000009")
    now = timezone.now()
    jobs = {
        "started-private": Job.objects.create(
            user=owner, plan=plan, org_id=owner.org_id, status=Status.STARTED,
            results=_results(steps[:1], "error")),
        "complete-public": Job.objects.create(
            user=owner_prod, plan=plan, org_id="00DPROD000000001", status=Status.COMPLETE,
            full_org_type=FullOrgType.PRODUCTION, is_public=True, enqueued_at=now,
            job_id=12345, results=_results(steps, "ok")),
        "failed-private": Job.objects.create(
            user=owner, plan=other_plan, org_id="00DFAILED0000001", status=Status.FAILED,
            results={**_results(steps[:2], "error"), **_results(steps[2:], "warn")}),
        "canceled-public": Job.objects.create(
            user=other, plan=plan, org_id="00DCANCEL0000001", status=Status.CANCELED,
            is_public=True, org_type="local", results={}),
        "scratch-anonymous": Job.objects.create(
            user=None, plan=plan, org_id=scratch.org_id, status=Status.COMPLETE,
            results=_results(steps[1:], "warn")),
        "scratch-public": Job.objects.create(
            user=None, plan=plan, org_id="00DSCRATCH00000008", status=Status.COMPLETE,
            is_public=True),
    }
    for name, job in jobs.items():
        job.steps.set(steps[:3] if name != "failed-private" else list(other_plan.steps.all()))
    return {"jobs": jobs, "owner": owner, "other": other, "staff": staff, "scratch": scratch}


def _viewers(world) -> dict[str, APIClient]:
    viewers, keys = {}, {}
    for name in ("owner", "other", "staff"):
        client = APIClient()
        keys[name] = factories.api_token(world[name])  # one each: issuing replaces
        client.credentials(HTTP_AUTHORIZATION=f"token {keys[name]}")
        viewers[name] = client
    viewers["anonymous"] = APIClient()
    holder = APIClient()
    hold_scratch_org(holder, world["scratch"])
    viewers["scratch-session"] = holder
    signed_in = APIClient()
    signed_in.force_login(world["owner"])
    viewers["owner-session"] = signed_in
    staff_holder = APIClient()
    staff_holder.credentials(HTTP_AUTHORIZATION=f"token {keys['staff']}")
    hold_scratch_org(staff_holder, world["scratch"])
    viewers["staff-with-scratch-session"] = staff_holder
    return viewers


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "es"])
def test_every_viewer_gets_jobserializers_bytes_for_the_jobs_visible_to_them(world, language):
    seen = set()
    for viewer, client in _viewers(world).items():
        for name, job in world["jobs"].items():
            response = client.get(f"/api/jobs/{job.hashid}/", HTTP_ACCEPT_LANGUAGE=language)
            request = response.wsgi_request
            visible = visible_jobs(request).filter(pk=job.pk).exists()
            if not visible:
                assert response.status_code == 404, (viewer, name)
                assert list(response.json()) == ["detail"]  # "Not found.", translated
                continue
            assert response.status_code == 200, (viewer, name)
            with translation.override(language):
                expected = JobSerializer(job_queryset().get(pk=job.pk),
                                         context={"request": request}).data
            assert response.content == JSONRenderer().render(expected), (viewer, name)
            data = response.json()
            seen.add((data["creator"] is not None, data["user_can_edit"],
                      data["version_is_most_recent"], data["error_count"] > 0))
    # The cases compared: rights with and without editing, none; an older version; counts.
    assert {(True, True), (True, False), (False, False)} <= {s[:2] for s in seen}
    assert {True, False} <= {s[2] for s in seen}
    assert {True, False} <= {s[3] for s in seen}


@pytest.mark.django_db
def test_a_running_jobs_changes_show_on_the_next_read(world):
    job = world["jobs"]["started-private"]
    client = _viewers(world)["owner"]
    assert client.get(f"/api/jobs/{job.hashid}/").json()["status"] == "started"
    Job.objects.filter(pk=job.pk).update(status=Status.FAILED, results={"x": [
        {"status": "error"}]})
    data = client.get(f"/api/jobs/{job.hashid}/").json()
    assert (data["status"], data["error_count"]) == ("failed", 1)


@pytest.mark.django_db
def test_a_newer_listed_version_shows_on_the_next_read(world):
    job = world["jobs"]["complete-public"]
    client = APIClient()
    assert client.get(f"/api/jobs/{job.hashid}/").json()["version_is_most_recent"] is True
    factories.version(job.plan.version.product, label="10.0", is_listed=True)
    assert client.get(f"/api/jobs/{job.hashid}/").json()["version_is_most_recent"] is False


@pytest.mark.django_db
@pytest.mark.parametrize("public_id", ["nope", "0", "kkkkkkkkkkkkk", encode(10**9)])
def test_unknown_ids_are_json_404s(public_id):
    response = APIClient().get(f"/api/jobs/{public_id}/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def _created(client, plan, steps, language: str):
    body = {"plan": plan.hashid, "steps": [step.hashid for step in steps]}
    return client.post("/api/jobs/", body, format="json", HTTP_ACCEPT_LANGUAGE=language)


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("latest", [True, False])
def test_a_created_jobs_response_is_jobserializers_bytes(language, latest):
    """POST /api/jobs/ builds its response from what it wrote (no re-read): the bytes equal
    JobSerializer's of the job read back, for a token user and for a scratch org's session,
    with a step left out and the steps posted out of order."""
    # The catalogue in English, whatever language an earlier test's request left active.
    with translation.override("en"):
        plan = factories.plan(steps=4)
        if not latest:
            Version.objects.filter(pk=plan.version_id).update(
                created_at=timezone.now() - timedelta(days=2))
            factories.version(plan.version.product, label="9.9", is_listed=True)
    steps = list(plan.steps.all())
    Step.objects.filter(pk=steps[2].pk).update(is_required=False)
    chosen = [steps[3], steps[0], steps[1]]
    user = factories.user()
    by_token = APIClient()
    by_token.credentials(HTTP_AUTHORIZATION=f"token {factories.api_token(user)}")
    holder = APIClient()
    hold_scratch_org(holder, complete_scratch_org(plan, org_id="00DSCRATCH00000007"))
    for viewer, client in {"token": by_token, "scratch-session": holder}.items():
        response = _created(client, plan, chosen, language)
        assert response.status_code == 201, (viewer, response.json())
        job = job_queryset().get(pk=Job.pk_from_hashid(response.json()["id"]))
        with translation.override(language):
            expected = JobSerializer(job, context={"request": response.wsgi_request}).data
        assert response.content == JSONRenderer().render(expected), viewer
        assert expected["version_is_most_recent"] is latest
        assert expected["user_can_edit"] is True
        Job.objects.filter(pk=job.pk).update(status=Status.COMPLETE)  # frees the org


@pytest.mark.django_db
def test_a_step_of_another_plan_is_refused_though_the_plans_steps_come_from_the_cache():
    plan, other = factories.plan(steps=2), factories.plan(steps=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token {factories.api_token(factories.user())}")
    response = _created(client, plan, [*plan.steps.all(), *other.steps.all()], "en")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Invalid steps for plan."]}
    assert not Job.objects.exists()
