"""One plan run or preflight per org at a time, enforced by the database for both kinds."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connections, transaction

from plandeploy.catalog.tests import factories
from plandeploy.runs import services
from plandeploy.runs.models import ORG_BUSY_SQLSTATE, Job, PreflightResult, Status
from plandeploy.tests import queue_rows


@pytest.mark.django_db
def test_a_plan_run_is_refused_while_a_preflight_runs_on_the_org():
    user = factories.user()
    plan = factories.plan(steps=1)
    preflight = services.request_preflight(plan=plan, user=user)
    with pytest.raises(services.PreflightRunning) as running:
        services.request_job(plan=plan, steps=plan.steps.all(), user=user)
    assert str(running.value) == f"Preflight {preflight.pk} is already running on this org."
    # The low-level insert (the scratch-org job's) is refused by the database itself.
    with pytest.raises(services.PreflightRunning):
        services.create_job(plan=plan, steps=plan.steps.all(), user=user)
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_preflight_is_refused_by_the_database_while_a_plan_run_is_started():
    user = factories.user()
    plan = factories.plan(steps=1)
    job = services.request_job(plan=plan, steps=plan.steps.all(), user=user)
    with pytest.raises(services.OrgBusy) as busy:
        services.create_preflight(plan=plan, org_id=user.org_id, user=user)
    assert str(busy.value) == (
        f"Pending job {job.hashid} exists. Please try again later, or cancel that job."
    )
    # Whatever writes the rows: a bare insert gets the specific SQLSTATE.
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        PreflightResult.objects.create(plan=plan, org_id=user.org_id)
    assert refused.value.__cause__.sqlstate == ORG_BUSY_SQLSTATE
    Job.objects.filter(pk=job.pk).update(status=Status.COMPLETE)
    assert services.create_preflight(plan=plan, org_id=user.org_id, user=user).pk


@pytest.mark.django_db
def test_two_preflights_and_a_restarted_row_are_refused_too():
    user = factories.user()
    plan = factories.plan(steps=1)
    first = services.create_preflight(plan=plan, org_id=user.org_id, user=user)
    with pytest.raises(services.PreflightRunning):
        services.create_preflight(plan=plan, org_id=user.org_id, user=user)
    ended = PreflightResult.objects.create(plan=plan, org_id="00DOTHERORG0000001",
                                           status=Status.COMPLETE)
    # Moving a row onto a busy org (or back to started) is checked like an insert.
    with pytest.raises(IntegrityError), transaction.atomic():
        PreflightResult.objects.filter(pk=ended.pk).update(
            org_id=user.org_id, status=Status.STARTED)
    assert PreflightResult.objects.get(pk=first.pk).status == Status.STARTED


def _race(user, plan, outcomes: list, barrier: threading.Barrier, kind: str) -> None:
    try:
        barrier.wait(timeout=10)
        if kind == "job":
            made = services.request_job(plan=plan, steps=plan.steps.all(), user=user)
        else:
            made = services.request_preflight(plan=plan, user=user)
        outcomes.append((kind, made))
    except services.Refused as refused:
        outcomes.append(("refused", refused))
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_of_a_run_and_a_preflight_never_yields_both():
    """Each request's read finds the org free; the database lets only one through."""
    plan = factories.plan(steps=1)
    try:
        for kinds in [("job", "preflight")] * 6 + [("preflight", "preflight")] * 3:
            user = factories.user()
            outcomes: list = []
            barrier = threading.Barrier(2)
            threads = [threading.Thread(target=_race, args=(user, plan, outcomes, barrier, k))
                       for k in kinds]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert sorted(kind == "refused" for kind, _ in outcomes) == [False, True], outcomes
            started = (Job.objects.filter(org_id=user.org_id, status=Status.STARTED).count()
                       + PreflightResult.objects.filter(org_id=user.org_id,
                                                        status=Status.STARTED).count())
            assert started == 1
    finally:
        queue_rows.clear_queue()
