"""A queue job of a dead worker is finished whatever its task (real worker processes).

A scheduled job holds its lock while its queue row is running; when its worker dies, only
finishing that row frees the lock, so the next tick can run.
"""

from __future__ import annotations

import json
import os
import signal
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from plandeploy.accounts.models import User
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job, Status
from plandeploy.testing.processes import (
    FAST_WORKER_TIMINGS,
    wait_until,
    worker_process,
)
from plandeploy.testing.processes import (
    test_database_url as database_url,
)
from plandeploy.tests.queue_rows import count_jobs

pytestmark = pytest.mark.django_db(transaction=True)

EVERY_TWO_SECONDS = "* * * * * */2"
NO_OTHER_SCHEDULES = {name: None for name in (
    "expire_preflight_results", "calculate_average_plan_runtimes", "enqueue_jobs",
    "expire_scratch_orgs",
)}


def _schedule(**crons: str | None) -> str:
    return json.dumps({**NO_OTHER_SCHEDULES, **crons})


def test_a_periodic_job_killed_with_its_worker_runs_again_at_its_next_tick():
    idle = factories.user()
    long_ago = timezone.now() - timedelta(days=40)
    User.objects.filter(pk=idle.pk).update(last_login=long_ago, date_joined=long_ago)
    plan = factories.plan()
    job = Job.objects.create(plan=plan, user=idle, org_id=idle.org_id, status=Status.COMPLETE)

    # A row lock on the idle user's job blocks cleanup_user_data when it deletes the user.
    with psycopg.connect(database_url(), autocommit=False) as blocker:
        blocker.execute("SELECT 1 FROM runs_job WHERE id = %s FOR UPDATE", [job.pk])
        dying = worker_process(
            queues="short", concurrency=1, **FAST_WORKER_TIMINGS,
            CRON_SCHEDULE=_schedule(cleanup_user_data=EVERY_TWO_SECONDS,
                                    fail_stalled_jobs=None),
        )
        with dying as worker:
            wait_until(lambda: count_jobs(["cleanup_user_data"], ["doing"]) == 1, timeout=30,
                       message="cleanup_user_data to start and block on the row lock")
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        blocker.rollback()
    assert count_jobs(["cleanup_user_data"], ["doing"]) == 1  # left running by the dead worker

    with worker_process(
        queues="short", concurrency=1, **FAST_WORKER_TIMINGS,
        CRON_SCHEDULE=_schedule(cleanup_user_data=EVERY_TWO_SECONDS,
                                fail_stalled_jobs=EVERY_TWO_SECONDS),
    ):
        wait_until(lambda: not User.objects.filter(pk=idle.pk).exists(), timeout=60,
                   message="the next cleanup_user_data tick to run and delete the idle user")
        assert count_jobs(["cleanup_user_data"], ["doing"]) <= 1
