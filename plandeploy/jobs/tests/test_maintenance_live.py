"""The maintenance jobs across processes: notifications, real workers, schedules, the command.

Committed data (transactional tests), a LISTENing connection for the events, real
`plandeploy worker` subprocesses for the schedules.
"""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from plandeploy import queue, taskdefs
from plandeploy.accounts.models import OrgConnection, User
from plandeploy.catalog.models import Plan
from plandeploy.jobs.tests.maintenance_rows import completed, job, preflight
from plandeploy.jobs.tests.test_maintenance import (
    PREFLIGHT_LIFETIME,
    TOKEN_LIFETIME,
    token_of,
    user_with_token,
)
from plandeploy.maintenance.services import run_cleanup_user_data, run_expire_preflight_results
from plandeploy.runs.models import PreflightResult, Status
from plandeploy.runs.tests.factories import EventListener, clear_queue, publish_plan
from plandeploy.testing.processes import (
    REPO_ROOT,
    run_worker_until_idle,
    subprocess_env,
    wait_until,
    worker_process,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_queue():
    clear_queue()


@pytest.fixture
def plan() -> Plan:
    return publish_plan(steps=[], preflight_checks=[])


@pytest.fixture
def listener():
    events = EventListener()
    yield events
    events.close()


def test_expired_tokens_announce_user_token_invalid_per_user(listener):
    now = timezone.now()
    staff = user_with_token(now, staff=True, token_age=TOKEN_LIFETIME)
    member = user_with_token(now, token_age=TOKEN_LIFETIME)
    fresh = user_with_token(now)

    run_cleanup_user_data(now)

    listener.collect()
    assert listener.types("user", staff.hashid) == ["USER_TOKEN_INVALID"]
    assert listener.types("user", member.hashid) == ["USER_TOKEN_INVALID"]
    assert listener.types("user", fresh.hashid) == []


def test_interrupted_runs_announce_their_cancel_and_org_change(plan, listener):
    """Clients are told about each interrupted run (a silent bulk update left pages stale)."""
    now = timezone.now()
    # Their queue jobs are gone: nothing will end them.
    dead_job = job(plan, enqueued_at=now, job_id=987654321)
    dead_preflight = preflight(plan, job_id=987654322)

    run_cleanup_user_data(now)

    assert listener.types("job", dead_job.hashid) == ["JOB_CANCELED"]
    assert listener.types("preflightresult", str(dead_preflight.pk)) == ["PREFLIGHT_CANCELED"]
    assert listener.types("org", dead_job.org_id) == ["ORG_CHANGED"]
    assert listener.types("org", dead_preflight.org_id) == ["ORG_CHANGED"]


def test_expired_preflights_announce_invalidated_and_running_ones_canceled(plan, listener):
    now = timezone.now()
    finished = preflight(plan, status=Status.COMPLETE, created_at=now - PREFLIGHT_LIFETIME)
    running = preflight(plan, created_at=now - PREFLIGHT_LIFETIME)
    fresh = preflight(plan, status=Status.COMPLETE)

    run_expire_preflight_results(now)

    assert listener.types("preflightresult", str(finished.pk)) == ["PREFLIGHT_INVALIDATED"]
    assert sorted(listener.types("preflightresult", str(running.pk))) == [
        "PREFLIGHT_CANCELED", "PREFLIGHT_INVALIDATED"]
    assert listener.types("org", running.org_id) == ["ORG_CHANGED"]
    assert listener.types("preflightresult", str(fresh.pk)) == []


def test_two_runs_at_once_change_each_row_once():
    now = timezone.now()
    users = [user_with_token(now, token_age=TOKEN_LIFETIME) for _ in range(40)]
    barrier = threading.Barrier(2)
    results: list = []

    def run() -> None:
        try:
            barrier.wait(5)
            results.append(run_cleanup_user_data(now, batch_size=3))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    expired = sum(counts["org_tokens_expired"] for counts in results if counts)
    assert expired == len(users)
    assert not OrgConnection.objects.filter(access_token__isnull=False).exists()


# -- Through the real worker -------------------------------------------------------------


def test_worker_runs_both_minute_schedules_on_start():
    """A fresh worker defers the latest tick of each periodic job, then runs it."""
    now = timezone.now()
    user = user_with_token(now, token_age=TOKEN_LIFETIME + timedelta(minutes=1))
    plan = publish_plan(steps=[], preflight_checks=[])
    stale = preflight(plan, status=Status.COMPLETE,
                      created_at=now - PREFLIGHT_LIFETIME - timedelta(minutes=1))

    with worker_process(queues="short", concurrency=1):
        wait_until(
            lambda: token_of(user) is None,
            timeout=60, message="cleanup_user_data to expire the token",
        )
        wait_until(
            lambda: not PreflightResult.objects.get(pk=stale.pk).is_valid,
            timeout=60, message="expire_preflight_results to invalidate the preflight",
        )


def test_cron_schedule_null_disables_cleanup_in_the_worker():
    now = timezone.now()
    user = user_with_token(now, token_age=TOKEN_LIFETIME + timedelta(minutes=1))
    plan = publish_plan(steps=[], preflight_checks=[])
    stale = preflight(plan, status=Status.COMPLETE,
                      created_at=now - PREFLIGHT_LIFETIME - timedelta(minutes=1))

    with worker_process(queues="short", concurrency=1,
                        CRON_SCHEDULE='{"cleanup_user_data": null}'):
        # The other minute job ran: the worker has handled its start-up ticks.
        wait_until(lambda: not PreflightResult.objects.get(pk=stale.pk).is_valid, timeout=60,
                   message="expire_preflight_results")
        wait_until(lambda: queue.queue_length("short") == 0, timeout=30, message="idle queue")
    assert OrgConnection.objects.get(user=user).access_token is not None


def test_averages_run_through_the_worker_on_the_default_queue(plan):
    completed(plan, [90] * settings.MINIMUM_JOBS_FOR_AVERAGE, timezone.now())
    # What the daily schedule defers: procrastinate passes the tick's timestamp.
    taskdefs.calculate_average_plan_runtimes.defer(timestamp=0)
    assert queue.queue_length("default") == 1
    run_worker_until_idle(queues=("default",))
    assert Plan.objects.get(pk=plan.pk).calculated_average_duration == 90


def test_cleanup_deferred_by_name_runs_in_the_worker(plan):
    now = timezone.now()
    dead = job(plan, enqueued_at=now, job_id=987654321)
    idle = User.objects.create(username="idle", last_login=now - timedelta(days=400))
    taskdefs.cleanup_user_data.defer(timestamp=0)
    taskdefs.expire_preflight_results.defer(timestamp=0)
    run_worker_until_idle(queues=("short",))
    dead.refresh_from_db()
    assert dead.status == Status.CANCELED
    assert not User.objects.filter(pk=idle.pk).exists()


# -- The command -------------------------------------------------------------------------


def test_run_maintenance_prints_the_counts():
    now = timezone.now()
    user_with_token(now, token_age=TOKEN_LIFETIME + timedelta(minutes=1))
    out = io.StringIO()
    call_command("run_maintenance", "cleanup_user_data", stdout=out)
    assert "org_tokens_expired: 1" in out.getvalue()
    assert "users_deleted: 0" in out.getvalue()


def test_run_maintenance_rejects_an_unknown_name():
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("run_maintenance", "cleanup_everything")


def test_run_maintenance_through_the_plandeploy_command():
    result = subprocess.run(
        [sys.executable, "-m", "plandeploy.cli", "manage", "run_maintenance",
         "expire_preflight_results"],
        env=subprocess_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "preflights_invalidated: 0" in result.stdout


# -- The benchmark script, at a tiny scale ---------------------------------------------------


def test_benchmark_runs_at_a_tiny_scale():
    result = subprocess.run(
        [sys.executable, "benchmarks/maintenance.py", "--scale", "0.001", "--repeat", "1",
         "--backlog-repeat", "1",
         "--database", "test_plandeploy_bench"],
        env=subprocess_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for figure in ("cleanup_user_data", "expire_preflight_results",
                   "calculate_average_plan_runtimes", "per-row"):
        assert figure in result.stdout
    # The filled data is a steady state: nothing is due until the benchmark makes it so.
    assert "changed rows in steady state" not in result.stdout


def test_periodic_tasks_use_their_task_names_queues_and_a_lock():
    from procrastinate.contrib.django import app

    periodic = {p.periodic_id: p for p in app.periodic_registry.periodic_tasks.values()}
    for name, queue_name in (("cleanup_user_data", "short"), ("expire_preflight_results", "short"),
                             ("calculate_average_plan_runtimes", "default")):
        assert periodic[name].task.name == name
        assert periodic[name].task.queue == queue_name
        assert periodic[name].cron == settings.SCHEDULES[name]
        assert periodic[name].configure_kwargs["queue"] == queue_name
        assert periodic[name].configure_kwargs["lock"] == f"maintenance:{name}"


def test_token_obtained_while_the_run_waits_for_its_row_is_kept():
    """Expiry re-checks the age on the row it locks (no stale candidate decision)."""
    import psycopg

    from plandeploy.testing.processes import test_database_url

    now = timezone.now()
    refreshed = user_with_token(now, token_age=TOKEN_LIFETIME)
    due = user_with_token(now, token_age=TOKEN_LIFETIME)
    results: list = []

    def run() -> None:
        try:
            results.append(run_cleanup_user_data(now))
        finally:
            connections.close_all()

    with psycopg.connect(test_database_url()) as sign_in:
        sign_in.execute(
            "UPDATE accounts_orgconnection SET token_created_at = now() WHERE user_id = %s",
            [refreshed.pk],
        )
        thread = threading.Thread(target=run)
        thread.start()

        def cleanup_waits_for_the_row() -> bool:
            row = sign_in.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
            return row[0] > 0

        wait_until(cleanup_waits_for_the_row, timeout=30, message="cleanup to wait on the row")
        sign_in.commit()
    thread.join(30)

    assert results[0]["org_tokens_expired"] == 1
    assert OrgConnection.objects.get(user=refreshed).access_token == "access-secret"
    assert token_of(due) is None
