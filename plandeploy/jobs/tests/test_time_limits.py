"""Every job runs under its time limit, enforced by the worker (real `plandeploy worker`
processes): a maintenance job blocked on a row lock, a plan run whose checkout hangs."""

from __future__ import annotations

import socket
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from plandeploy.jobs.tests.scratch_support import EMAIL, scratch_plan
from plandeploy.jobs.tests.test_maintenance import TOKEN_LIFETIME, token_of, user_with_token
from plandeploy.runs import services
from plandeploy.runs.models import Job, ScratchOrg, Status
from plandeploy.runs.scratch_requests import request_scratch_org
from plandeploy.runs.tests.factories import (
    EventListener,
    clear_queue,
    local_user,
    publish_plan,
    step_data,
)
from plandeploy.testing import processes
from plandeploy.testing.processes import only_schedule, wait_until, worker_process
from plandeploy.tests.queue_rows import count_jobs

pytestmark = pytest.mark.django_db(transaction=True)

CLEANUP_EVERY_TWO_SECONDS = only_schedule("cleanup_user_data")


@pytest.fixture(autouse=True)
def empty_queue():
    clear_queue()


def _waiting_for_a_lock(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] > 0


def test_maintenance_job_blocked_on_a_row_lock_fails_at_its_limit_and_frees_its_lock():
    user = user_with_token(timezone.now(), token_age=TOKEN_LIFETIME + timedelta(minutes=1))
    with psycopg.connect(processes.test_database_url()) as holder, psycopg.connect(
        processes.test_database_url(), autocommit=True
    ) as observer:
        # The row cleanup_user_data must change to expire the token, locked until rollback.
        holder.execute("SELECT 1 FROM accounts_orgconnection WHERE user_id = %s FOR UPDATE",
                       [user.pk])
        with worker_process(queues="short", concurrency=1, SHORT_JOB_TIMEOUT="3",
                            CRON_SCHEDULE=CLEANUP_EVERY_TWO_SECONDS):
            wait_until(lambda: _waiting_for_a_lock(observer), timeout=60,
                       message="cleanup_user_data to wait for the locked row")
            wait_until(lambda: count_jobs(["cleanup_user_data"], ["failed"]) >= 1, timeout=60,
                       message="the blocked cleanup_user_data to fail at SHORT_JOB_TIMEOUT")
            # It failed while the row was still locked: the limit ended it, not the row.
            assert token_of(user) is not None
            holder.rollback()
            # The failed job's procrastinate lock (and its advisory lock) are free: a
            # following tick runs and expires the token.
            wait_until(lambda: token_of(user) is None, timeout=60,
                       message="the next cleanup_user_data to run")
        assert not _waiting_for_a_lock(observer)


@pytest.fixture
def silent_git_server():
    """A git:// address that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"git://127.0.0.1:{server.getsockname()[1]}/product.git"


def test_run_whose_checkout_outlasts_job_timeout_ends_canceled_naming_the_limit(
    silent_git_server,
):
    plan = publish_plan(steps=[step_data("1", "tasks.wait.Wait", seconds=0)],
                        repo_url=silent_git_server)
    with worker_process(concurrency=1, JOB_TIMEOUT="3"):
        job = services.create_job(plan=plan, steps=plan.steps.all(), user=local_user())
        wait_until(lambda: Job.objects.get(pk=job.pk).status != Status.STARTED, timeout=60,
                   message="the run to end at JOB_TIMEOUT during its checkout")
    job.refresh_from_db()
    assert job.status == Status.CANCELED
    assert "exceeded the time limit of 3 seconds" in job.exception


def test_scratch_org_whose_checkout_outlasts_job_timeout_fails_naming_the_limit(
    silent_git_server,
):
    plan = scratch_plan(repo_url=silent_git_server, preflight_checks=[])
    events = EventListener()
    try:
        with worker_process(concurrency=1, JOB_TIMEOUT="3"):
            org = request_scratch_org(plan=plan, user=local_user(), email=EMAIL)
            wait_until(lambda: not ScratchOrg.objects.filter(pk=org.pk).exists(), timeout=60,
                       message="the scratch org to fail at JOB_TIMEOUT and be removed")
        errors = wait_until(
            lambda: [e for e in events.collect() if e["type"] == "SCRATCH_ORG_ERROR"],
            message="the error event",
        )
    finally:
        events.close()
    assert errors[0]["message"] == (
        "The scratch org could not be created: The job exceeded its time limit of 3 seconds "
        "(JOB_TIMEOUT) and was stopped."
    )
