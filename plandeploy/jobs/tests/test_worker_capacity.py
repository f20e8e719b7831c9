"""Queue `short` has slots of its own: long installs never hold up the scheduled jobs
(a real `plandeploy worker` process, real plan runs in CumulusCI child processes)."""

from __future__ import annotations

import secrets

import pytest

from plandeploy import taskdefs
from plandeploy.jobs.models import PingRecord, ScheduleSuccess
from plandeploy.queue.worker import worker_pools
from plandeploy.runs import services
from plandeploy.runs.models import Job, Status
from plandeploy.runs.tests.factories import clear_queue, local_user, publish_plan, step_data
from plandeploy.testing.processes import (
    FAST_WORKER_TIMINGS,
    only_schedule,
    wait_until,
    worker_process,
)

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = "tasks.wait.Wait"
INSTALLS = 4
# Only the dead-worker sweep is scheduled, every two seconds: its ticks show it still runs.
SWEEP_EVERY_TWO_SECONDS = only_schedule("fail_stalled_jobs")


@pytest.fixture(autouse=True)
def empty_queue():
    clear_queue()


def _sweep_succeeded_at():
    return (ScheduleSuccess.objects.filter(name="fail_stalled_jobs")
            .values_list("succeeded_at", flat=True).first())


def test_scheduled_and_short_jobs_run_while_long_installs_hold_every_default_slot():
    plan = publish_plan(steps=[step_data("1", WAIT, seconds=300)])
    with worker_process(concurrency=INSTALLS, CRON_SCHEDULE=SWEEP_EVERY_TWO_SECONDS,
                        **FAST_WORKER_TIMINGS):
        jobs = [services.create_job(plan=plan, steps=plan.steps.all(), user=local_user())
                for _ in range(INSTALLS)]
        pks = [job.pk for job in jobs]
        wait_until(
            lambda: Job.objects.filter(pk__in=pks, started_at__isnull=False).count() == INSTALLS,
            timeout=120, message="four installs to be running",
        )
        # Every default slot is taken now: these must still run.
        swept_before = wait_until(_sweep_succeeded_at, timeout=30, message="a first sweep")
        tokens = [secrets.token_hex(8) for _ in range(3)]
        for token in tokens:
            taskdefs.ping.defer(token=token)
        wait_until(lambda: PingRecord.objects.filter(token__in=tokens).count() == len(tokens),
                   timeout=30, message="short jobs to run beside the installs")
        wait_until(lambda: _sweep_succeeded_at() > swept_before, timeout=30,
                   message="the scheduled sweep to run again beside the installs")
        assert Job.objects.filter(pk__in=pks, status=Status.STARTED).count() == INSTALLS


def test_short_gets_a_pool_of_its_own_unless_it_is_the_only_queue():
    assert worker_pools(["default", "short"], 4, 2) == [(["default"], 4), (["short"], 2)]
    assert worker_pools(["short"], 1, 2) == [(["short"], 1)]
    assert worker_pools(["default"], 3, 2) == [(["default"], 3)]
