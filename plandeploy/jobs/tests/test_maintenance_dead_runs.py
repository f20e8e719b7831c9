"""cleanup_user_data's dead-run rule, judged from queue rows and worker heartbeats in real SQL.

A run is dead when its queue job ended or vanished, or is `doing` on a worker whose
heartbeat is stale; how long it waited or ran does not matter.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from plandeploy import queue, taskdefs
from plandeploy.catalog.models import Plan
from plandeploy.jobs.tests.maintenance_rows import job, preflight
from plandeploy.maintenance.services import run_cleanup_user_data
from plandeploy.runs.models import INTERRUPTED_MESSAGE, Job, PreflightResult, Status
from plandeploy.runs.tests.factories import publish_plan
from plandeploy.tests import queue_rows

pytestmark = pytest.mark.django_db

# Longer than the old rule's limit (JOB_TIMEOUT + 120 s, measured from enqueued_at).
LONG_WAIT = timedelta(seconds=2 * (settings.JOB_TIMEOUT + 120))
STALE = queue.stalled_after_seconds() + 30


@pytest.fixture
def plan() -> Plan:
    return publish_plan(steps=[], preflight_checks=[])


def queued_job(plan, waited: timedelta = LONG_WAIT) -> Job:
    """A plan run handed to the queue `waited` ago, with its run_flows_job row."""
    row = job(plan, enqueued_at=timezone.now() - waited)
    Job.objects.filter(pk=row.pk).update(job_id=taskdefs.run_flows_job.defer(job_pk=row.pk))
    return Job.objects.get(pk=row.pk)


def queued_preflight(plan, waited: timedelta = LONG_WAIT) -> PreflightResult:
    row = preflight(plan, created_at=timezone.now() - waited)
    PreflightResult.objects.filter(pk=row.pk).update(
        job_id=taskdefs.preflight_job.defer(preflight_pk=row.pk)
    )
    return PreflightResult.objects.get(pk=row.pk)


def status_of(row) -> str:
    return type(row).objects.get(pk=row.pk).status


@pytest.mark.parametrize("make", [queued_job, queued_preflight])
def test_a_run_fetched_after_waiting_past_the_timeout_is_not_canceled_as_it_starts(plan, make):
    """Fetched (`doing` on a live worker) but no step begun yet: `started_at` is NULL."""
    run = make(plan)
    queue_rows.fetched_by(run.job_id, queue_rows.register_worker())
    assert run.started_at is None

    counts = run_cleanup_user_data()

    assert status_of(run) == Status.STARTED
    assert counts["jobs_interrupted"] == counts["preflights_interrupted"] == 0
    assert queue_rows.abort_requested(run.job_id) is False


@pytest.mark.parametrize("make", [queued_job, queued_preflight])
def test_a_run_waiting_in_the_queue_is_left_alone_however_long_it_waited(plan, make):
    run = make(plan)
    run_cleanup_user_data()
    assert status_of(run) == Status.STARTED


@pytest.mark.parametrize("make", [queued_job, queued_preflight])
def test_a_run_on_a_worker_with_a_stale_heartbeat_is_canceled_and_its_job_aborted(plan, make):
    """Dead as soon as the heartbeat is stale, even a moment after it was queued."""
    run = make(plan, waited=timedelta(0))
    queue_rows.fetched_by(run.job_id, queue_rows.register_worker(heartbeat_age_seconds=STALE))

    run_cleanup_user_data()

    run.refresh_from_db()
    assert (run.status, run.exception) == (Status.CANCELED, INTERRUPTED_MESSAGE)
    assert run.canceled_at is not None
    assert queue_rows.abort_requested(run.job_id) is True


@pytest.mark.parametrize("make", [queued_job, queued_preflight])
def test_a_run_whose_queue_job_ended_vanished_or_lost_its_worker_is_canceled(plan, make):
    failed, vanished, pruned = make(plan), make(plan), make(plan)
    queue_rows.set_status(failed.job_id, "failed")
    queue_rows.delete_job(vanished.job_id)
    # procrastinate prunes a dead worker's registration; its jobs keep `doing`, worker NULL.
    queue_rows.fetched_by(pruned.job_id, None)

    counts = run_cleanup_user_data()

    assert counts["jobs_interrupted"] + counts["preflights_interrupted"] == 3
    for run in (failed, vanished, pruned):
        assert status_of(run) == Status.CANCELED


def test_finished_runs_and_runs_without_a_queue_job_are_not_touched(plan):
    finished = job(plan, status=Status.COMPLETE, enqueued_at=timezone.now() - LONG_WAIT,
                   job_id=987654321)
    never_enqueued = job(plan, created_at=timezone.now() - LONG_WAIT)
    unqueued_preflight = preflight(plan, created_at=timezone.now() - LONG_WAIT)
    run_cleanup_user_data()
    assert status_of(finished) == Status.COMPLETE
    assert status_of(never_enqueued) == status_of(unqueued_preflight) == Status.STARTED
