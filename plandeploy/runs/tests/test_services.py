"""The admission rules of runs.services and runs.scratch_requests, called without HTTP."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import override_settings
from django.utils import translation

from plandeploy import queue
from plandeploy.catalog.tests import factories
from plandeploy.runs import scratch_requests, services
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status

pytestmark = pytest.mark.django_db


def _scratch_org(plan, org_id: str = "00DSERVICE0000001") -> ScratchOrg:
    return ScratchOrg.objects.create(plan=plan, status=Status.COMPLETE, org_id=org_id)


def test_one_org_busy_rule_refuses_jobs_and_preflights_while_a_job_is_started():
    user = factories.user()
    plan = factories.plan(steps=1)
    assert services.running_job(user.org_id) is None
    job = services.request_job(plan=plan, steps=plan.steps.all(), user=user)
    assert services.running_job(user.org_id) == job.hashid
    with pytest.raises(services.OrgBusy) as busy:
        services.request_job(plan=plan, steps=plan.steps.all(), user=user)
    assert busy.value.job_id == job.hashid
    assert str(busy.value) == (
        f"Pending job {job.hashid} exists. Please try again later, or cancel that job."
    )
    with pytest.raises(services.OrgBusy):
        services.request_preflight(plan=plan, user=user)
    # The low-level insert that the scratch-org job uses obeys the same rule (a constraint).
    with pytest.raises(services.OrgBusy) as busy:
        services.create_job(plan=plan, steps=plan.steps.all(), user=user)
    assert busy.value.job_id == job.hashid
    assert Job.objects.filter(org_id=user.org_id).count() == 1


def test_request_job_refusals_come_in_a_fixed_order():
    plan = factories.plan(steps=2, checks=True)
    restricted = factories.plan(visible_to=factories.allowed_list())
    user = factories.user()
    steps = list(plan.steps.all())
    with pytest.raises(services.PlanNotAllowed):
        services.request_job(plan=restricted, steps=[], user=user)
    with pytest.raises(services.NoValidOrg):
        services.request_job(plan=plan, steps=steps, user=factories.user(connected=False))
    with pytest.raises(services.NoValidPreflight):
        services.request_job(plan=plan, steps=steps, user=user)
    PreflightResult.objects.create(plan=plan, org_id=user.org_id, status=Status.COMPLETE)
    with pytest.raises(services.InvalidSteps):
        services.request_job(plan=plan, steps=steps[:1], user=user)
    with pytest.raises(services.InvalidSteps):
        services.request_job(plan=plan, steps=[*steps, *restricted.steps.all()], user=user)
    with pytest.raises(services.InvalidResults):
        services.request_job(plan=plan, steps=steps, user=user,
                             results={steps[0].hashid: [{"status": "error"}]})
    lost = factories.user(token=False)
    PreflightResult.objects.create(plan=plan, org_id=lost.org_id, status=Status.COMPLETE)
    with pytest.raises(services.ConnectionLost):
        services.request_job(plan=plan, steps=steps, user=lost)
    assert not Job.objects.exists()
    job = services.request_job(plan=plan, steps=steps, user=user, is_public=True)
    assert job.is_public and job.user == user and job.org_id == user.org_id


def test_a_scratch_org_runs_only_its_own_plan_and_only_once_it_exists():
    plan = factories.plan(steps=1)
    other = factories.plan(steps=1)
    anonymous = AnonymousUser()
    scratch = _scratch_org(plan)
    with pytest.raises(services.NoValidOrg):
        services.request_job(plan=other, steps=other.steps.all(), user=anonymous,
                             scratch_org=scratch)
    unfinished = ScratchOrg.objects.create(plan=plan)
    with pytest.raises(services.NoValidOrg):
        services.request_preflight(plan=plan, user=anonymous, scratch_org=unfinished)
    job = services.request_job(plan=plan, steps=plan.steps.all(), user=anonymous,
                               scratch_org=scratch)
    assert job.user is None and job.org_id == scratch.org_id


def test_one_preflight_at_a_time_per_org_and_cancelling_it():
    user = factories.user()
    plan = factories.plan()
    first = services.request_preflight(plan=plan, user=user)
    assert first.user == user and first.job_id is not None
    with pytest.raises(services.PreflightRunning) as running:
        services.request_preflight(plan=plan, user=user)
    assert str(running.value) == f"Preflight {first.pk} is already running on this org."
    services.cancel_preflight(plan=plan, org_id=user.org_id)
    assert PreflightResult.objects.get(pk=first.pk).status == Status.CANCELED
    with pytest.raises(services.NothingToCancel):
        services.cancel_preflight(plan=plan, org_id=user.org_id)
    with pytest.raises(services.ConnectionLost):
        services.request_preflight(plan=plan, user=factories.user(token=False))


def test_set_job_public_needs_an_org_and_writes_only_its_column():
    user = factories.user()
    plan = factories.plan(steps=1)
    job = services.request_job(plan=plan, steps=plan.steps.all(), user=user)
    Job.objects.filter(pk=job.pk).update(results={"written": "by a worker"})
    services.set_job_public(job, True)
    job.refresh_from_db()
    assert job.is_public and job.results == {"written": "by a worker"}
    orgless = Job.objects.create(plan=plan, org_id=None, status=Status.FAILED)
    with pytest.raises(services.NoValidOrg):
        services.set_job_public(orgless, True)


def test_request_scratch_org_refusals_and_success():
    plan = factories.plan(supported_orgs="Both")
    with override_settings(SCRATCH_ORGS_ENABLED=False), \
            pytest.raises(scratch_requests.ScratchOrgsDisabled):
        scratch_requests.request_scratch_org(plan=plan, user=AnonymousUser(), email="a@b.c")
    with pytest.raises(services.PlanNotAllowed):
        scratch_requests.request_scratch_org(
            plan=factories.plan(
                factories.version(factories.product(visible_to=factories.allowed_list())),
                supported_orgs="Both",
            ),
            user=AnonymousUser(), email="a@b.c",
        )
    with pytest.raises(scratch_requests.ScratchOrgsUnsupported):
        scratch_requests.request_scratch_org(plan=factories.plan(), user=AnonymousUser(),
                                             email="a@b.c")
    with override_settings(MAX_QUEUE_LENGTH=queue.queue_length("default")), \
            pytest.raises(scratch_requests.QueueFull):
        scratch_requests.request_scratch_org(plan=plan, user=AnonymousUser(), email="a@b.c")
    assert not ScratchOrg.objects.exists()
    with override_settings(MAX_QUEUE_LENGTH=queue.queue_length("default") + 1):
        org = scratch_requests.request_scratch_org(plan=plan, user=AnonymousUser(),
                                                   email="a@b.c")
    assert org.status == Status.STARTED and org.job_id is not None and org.enqueued_at
    assert ScratchOrg.objects.get(pk=org.pk).job_id == org.job_id


def test_the_agreement_recorded_is_the_one_shown_even_in_another_language():
    # A product written only in Spanish, run from an English request: the pages show its
    # Spanish agreement (any language rather than none), so that is the one recorded.
    with translation.override("es"):
        product = factories.product(click_through_agreement="Acepto las condiciones.")
        plan = factories.plan(factories.version(product), steps=1)
    user = factories.user()
    with translation.override("en"):
        plan = type(plan).objects.select_related("version__product").get(pk=plan.pk)
        job = services.request_job(plan=plan, steps=plan.steps.all(), user=user)
    assert job.click_through_agreement.text == "Acepto las condiciones."
