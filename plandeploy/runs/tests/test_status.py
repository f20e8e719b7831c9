"""Status changes on the real database: forward only, timestamps written, every move announced."""

from __future__ import annotations

import pytest

from plandeploy.hashids import encode
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status
from plandeploy.runs.status import InvalidTransition, transition, transition_many
from plandeploy.runs.tests.factories import EventListener, org_id, publish_plan

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def plan():
    return publish_plan(steps=[], preflight_checks=[])


@pytest.fixture
def events():
    listener = EventListener()
    yield listener
    listener.close()


def test_a_started_job_completes_with_its_timestamp_and_is_announced(plan, events):
    org = org_id()
    job = Job.objects.create(plan=plan, org_id=org)

    assert transition(Job, job.pk, Status.COMPLETE) is True

    job.refresh_from_db()
    assert job.status == Status.COMPLETE and job.success_at is not None
    assert job.canceled_at is None
    events.collect(timeout=1.0)
    assert events.types("job", encode(job.pk)) == ["JOB_COMPLETED"]
    assert events.types("org", org) == ["ORG_CHANGED"]


def test_only_the_given_columns_are_written(plan):
    job = Job.objects.create(plan=plan, org_id=org_id(), exception="")

    transition(Job, job.pk, Status.FAILED, exception="Step 2 failed")

    job.refresh_from_db()
    assert (job.status, job.exception) == (Status.FAILED, "Step 2 failed")
    assert job.success_at is None and job.canceled_at is None


def test_a_finished_row_does_not_move_again_and_nothing_is_announced(plan, events):
    job = Job.objects.create(plan=plan, org_id=org_id())
    transition(Job, job.pk, Status.CANCELED)
    events.collect(timeout=1.0)
    events.events.clear()

    assert transition(Job, job.pk, Status.COMPLETE) is False

    job.refresh_from_db()
    assert job.status == Status.CANCELED and job.success_at is None
    assert events.collect(timeout=0.5) == []


@pytest.mark.parametrize("model", [Job, PreflightResult, ScratchOrg])
def test_no_row_may_move_back_to_started(plan, model):
    with pytest.raises(InvalidTransition):
        transition(model, 1, Status.STARTED)


def test_a_complete_scratch_org_may_still_fail_but_a_job_may_not(plan):
    scratch = ScratchOrg.objects.create(plan=plan, status=Status.COMPLETE)
    assert transition(ScratchOrg, scratch.pk, Status.FAILED) is True

    job = Job.objects.create(plan=plan, org_id=org_id(), status=Status.COMPLETE)
    assert transition(Job, job.pk, Status.FAILED) is False
    assert Job.objects.get(pk=job.pk).status == Status.COMPLETE


def test_many_rows_move_in_one_call_and_only_those_that_could_move_are_returned(plan, events):
    # One started preflight per org (the database allows no more).
    running = [PreflightResult.objects.create(plan=plan, org_id=org_id()) for _ in range(3)]
    done = PreflightResult.objects.create(plan=plan, org_id=org_id(), status=Status.COMPLETE)

    moved = transition_many(
        PreflightResult, [row.pk for row in [*running, done]], Status.CANCELED,
        exception="Interrupted",
    )

    assert sorted(moved) == sorted(row.pk for row in running)
    assert set(PreflightResult.objects.filter(pk__in=moved).values_list("status", flat=True)) \
        == {Status.CANCELED}
    assert PreflightResult.objects.get(pk=done.pk).status == Status.COMPLETE
    events.collect(timeout=1.0)
    assert sorted(e["id"] for e in events.events if e["model"] == "preflightresult") \
        == sorted(str(row.pk) for row in running)
    for row in running:
        assert events.types("org", row.org_id) == ["ORG_CHANGED"]
