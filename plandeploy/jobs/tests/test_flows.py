"""run_flows_job and preflight_job with real CumulusCI runs of the sample product.

These run in an in-process worker (the queue and the child processes are real); the
behaviours that need a worker process to be signalled or killed are in test_flows_worker.py.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from plandeploy.jobs.enqueuer import enqueue_pending
from plandeploy.orgs.workspaces import resolve
from plandeploy.runs import services
from plandeploy.runs.execution import writer
from plandeploy.runs.execution.base import run_duration
from plandeploy.runs.execution.stalled import end_stalled_runs
from plandeploy.runs.models import CANCELED_MESSAGE, INTERRUPTED_MESSAGE, Job, Status
from plandeploy.runs.tests.factories import (
    clear_queue,
    local_user,
    publish_plan,
    sample_steps,
    step_data,
)
from plandeploy.testing.processes import run_worker_until_idle
from plandeploy.tests.queue_rows import delete_job

pytestmark = pytest.mark.django_db(transaction=True)

COMMAND = "cumulusci.tasks.command.Command"


@pytest.fixture(autouse=True)
def empty_queue():
    clear_queue()


def run_all() -> None:
    run_worker_until_idle(queues=("short",))
    run_worker_until_idle(queues=("default",))


def start_job(plan, user=None, steps=None) -> Job:
    user = user or local_user()
    steps = plan.steps.all() if steps is None else steps
    return services.create_job(plan=plan, steps=steps, user=user)


def workspace(user) -> Path:
    return resolve(user.org_connection.workspace)


def test_plan_runs_to_complete_with_results_logs_and_events(events):
    plan = publish_plan()
    user = local_user()
    job = start_job(plan, user)
    run_all()
    job_events = events.types("job", job.hashid)
    org_events = events.types("org", user.org_id)
    all_events = events.types()
    job.refresh_from_db()
    steps = list(plan.steps.order_by("step_num_key"))
    assert job.status == Status.COMPLETE, job.exception
    assert job.success_at is not None and job.enqueued_at is not None
    assert job.enqueued_at <= job.started_at <= job.success_at
    assert set(job.results) == {step.hashid for step in steps}
    assert all(job.results[step.hashid][0]["status"] == "ok" for step in steps)
    assert "InstallComponent done" in job.results[steps[0].hashid][0]["logs"]
    assert "plandeploy-sample installed" in job.results[steps[3].hashid][0]["logs"]
    assert "InstallComponent done" in job.log
    # The steps acted on the org's workspace.
    assert list((workspace(user)).iterdir())
    assert job_events[0] == "JOB_STARTED"
    assert job_events.count("TASK_COMPLETED") == len(steps)
    assert job_events[-1] == "JOB_COMPLETED"
    assert "BACKEND_ERROR" not in all_events
    assert "ORG_CHANGED" in org_events


def test_failing_step_fails_the_job_skips_later_steps_and_sanitizes_the_message(events):
    steps = sample_steps()
    steps[1]["task_config"]["options"]["fail"] = True
    plan = publish_plan(steps=steps)
    user = local_user()
    job = start_job(plan, user)
    run_all()
    types = events.types()
    job.refresh_from_db()
    first, failing, *later = list(plan.steps.order_by("step_num_key"))
    assert job.status == Status.FAILED
    assert job.results[first.hashid][0]["status"] == "ok"
    entry = job.results[failing.hashid][0]
    assert entry["status"] == "error"
    assert "failed as requested" in entry["message"]
    # The task put the org id in its message; it never reaches the results or the exception.
    assert user.org_id not in entry["message"]
    assert user.org_id not in job.exception
    assert user.org_id not in json.dumps(job.results) and user.org_id not in job.log
    assert all(step.hashid not in job.results for step in later)
    assert "failed as requested" in job.exception
    assert "JOB_FAILED" in types and "BACKEND_ERROR" in types


def test_unselected_optional_step_is_skipped():
    plan = publish_plan()
    user = local_user()
    steps = list(plan.steps.order_by("step_num_key"))
    optional = [step for step in steps if not step.is_required]
    assert len(optional) == 1
    job = start_job(plan, user, steps=[step for step in steps if step.is_required])
    run_all()
    job.refresh_from_db()
    assert job.status == Status.COMPLETE
    assert optional[0].hashid not in job.results
    assert set(job.results) == {step.hashid for step in steps if step.is_required}
    assert not (workspace(user) / "data").exists()


@pytest.mark.plants_secrets("catalog_step")  # the step's command holds the token
def test_step_logs_messages_and_log_are_scrubbed_of_org_secrets():
    """Per-step logs, step messages and the run log carry no org identifiers (anonymous users
    read public jobs' logs)."""
    user = local_user()
    conn = user.org_connection
    leaky = f"echo id={conn.org_id} user={conn.org_username} url={conn.instance_url} " \
            f"token={conn.access_token}"
    plan = publish_plan(steps=[
        step_data("1", COMMAND, command=leaky),
        step_data("2", COMMAND, command=f"{leaky} && false"),
    ])
    job = start_job(plan, user)
    run_all()
    job.refresh_from_db()
    stored = json.dumps(job.results) + job.log + (job.exception or "")
    assert job.status == Status.FAILED
    assert "id=" in stored and "token=" in stored  # the lines themselves were kept
    for secret in (conn.org_id, conn.org_username, conn.instance_url, conn.access_token):
        assert secret not in stored


@contextlib.contextmanager
def job_row_writes() -> Iterator[list[int]]:
    """Counts UPDATEs of runs_job rows inside the block (the count is in the list after)."""
    counted: list[int] = []
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE TABLE test_job_writes (n serial);
            CREATE FUNCTION test_count_job_write() RETURNS trigger LANGUAGE plpgsql AS
              $$ BEGIN INSERT INTO test_job_writes DEFAULT VALUES; RETURN NEW; END $$;
            CREATE TRIGGER test_count_job_write AFTER UPDATE ON runs_job
              FOR EACH ROW EXECUTE FUNCTION test_count_job_write();
        """)
    try:
        yield counted
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM test_job_writes")
            counted.append(cursor.fetchone()[0])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("""
                DROP TRIGGER test_count_job_write ON runs_job;
                DROP FUNCTION test_count_job_write();
                DROP TABLE test_job_writes;
            """)


def test_chatty_step_logs_are_written_in_batches():
    """Thousands of log lines cost a handful of row writes, not one per line."""
    plan = publish_plan(steps=[step_data("1", COMMAND, command="seq 1 3000")])
    job = start_job(plan)
    with job_row_writes() as writes:
        run_all()
    job.refresh_from_db()
    assert job.status == Status.COMPLETE
    logs = job.results[plan.steps.get().hashid][0]["logs"]
    assert "\n3000" in logs and "\n1500\n" in logs
    # enqueue + started_at + a few batches + the step end + the final status.
    assert writes[0] <= 15, writes


def test_a_step_end_is_written_with_the_next_step_start_or_the_end(events, monkeypatch):
    """One write per step start plus the final one; each step's end (results and
    TASK_COMPLETED) rides on the write that follows it. (The time-based writes, which
    bound how late that can be, are pushed out of the way: the count must not depend on
    how fast this machine is.)"""
    monkeypatch.setattr(writer, "LOG_WRITE_SECONDS", 60.0)
    monkeypatch.setattr(writer, "STEP_END_WRITE_SECONDS", 60.0)
    plan = publish_plan(steps=[step_data("1", COMMAND, command="echo one"),
                               step_data("2", COMMAND, command="echo two")])
    job = start_job(plan)
    with job_row_writes() as writes:
        run_all()
    job.refresh_from_db()
    assert job.status == Status.COMPLETE
    assert all(entries[0]["status"] == "ok" for entries in job.results.values())
    # enqueue, step 1 start, step 2 start (with step 1's end), then in one transaction the
    # last results (with step 2's end) and the final status.
    assert writes == [5]
    assert events.types("job", job.hashid) == [
        "JOB_STARTED", "TASK_COMPLETED", "TASK_COMPLETED", "JOB_COMPLETED",
    ]


def test_cancel_of_a_queued_run_ends_it_without_running_a_step():
    plan = publish_plan()
    user = local_user()
    job = start_job(plan, user)
    assert enqueue_pending() == 1
    assert services.request_cancel_job(job) is True
    run_all()
    job.refresh_from_db()
    assert job.status == Status.CANCELED
    assert job.exception == CANCELED_MESSAGE
    assert job.started_at is None and job.results == {}
    assert not workspace(user).exists()


def test_cancel_recorded_only_in_the_database_still_stops_the_run():
    """The cancel lives in the database; a run that missed the abort signal still stops."""
    plan = publish_plan(steps=[step_data("1", "tasks.wait.Wait", seconds=1),
                               step_data("2", "tasks.wait.Wait", seconds=1)])
    job = start_job(plan)
    enqueue_pending()
    Job.objects.filter(pk=job.pk).update(cancel_requested_at=job.created_at)
    run_worker_until_idle(queues=("default",))
    job.refresh_from_db()
    assert job.status == Status.CANCELED
    assert job.results == {}


def test_run_of_a_deleted_user_ends_failed_instead_of_staying_started():
    """A persistent-org job whose user is gone ends with a reason instead of staying started."""
    plan = publish_plan()
    user = local_user()
    job = start_job(plan, user)
    enqueue_pending()
    user.delete()
    run_worker_until_idle(queues=("default",))
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert "no longer exists" in job.exception


def test_run_whose_queue_job_vanished_is_ended_as_interrupted(events):
    """A started, enqueued run with no live queue job is ended, with an event, not left
    started forever."""
    plan = publish_plan()
    job = start_job(plan)
    enqueue_pending()
    waiting = start_job(publish_plan())
    enqueue_pending()
    job.refresh_from_db()
    delete_job(job.job_id)
    assert end_stalled_runs() == 1
    types = events.types("job", job.hashid)
    job.refresh_from_db()
    assert job.status == Status.CANCELED and job.exception == INTERRUPTED_MESSAGE
    # A job still waiting in the queue has not started: it must not be reported interrupted.
    assert Job.objects.get(pk=waiting.pk).status == Status.STARTED
    assert types == ["JOB_CANCELED"]


def test_preflight_whose_queue_job_vanished_is_ended_as_interrupted():
    """Preflights whose queue job vanished are ended too, not only jobs."""
    plan = publish_plan()
    user = local_user()
    preflight = services.create_preflight(plan=plan, org_id=user.org_id, user=user)
    delete_job(preflight.job_id)
    assert end_stalled_runs() == 1
    preflight.refresh_from_db()
    assert preflight.status == Status.CANCELED and preflight.exception == INTERRUPTED_MESSAGE


def test_run_duration_is_not_wrapped_at_a_day():
    """A duration of over a day is not wrapped to its remainder (as timedelta.seconds does)."""
    assert run_duration(0.0, 2 * 86400 + 5.0) == 2 * 86400 + 5.0


def test_preflight_complete_with_errors_and_warnings_keyed_by_step_and_plan(events):
    plan = publish_plan(preflight_checks=[
        {"when": "True", "action": "error", "message": "Plan-level error."},
        {"when": "True", "action": "warn", "message": "Plan-level warning."},
        {"when": "False", "action": "error", "message": "Never shown."},
    ])
    user = local_user()
    preflight = services.create_preflight(plan=plan, org_id=user.org_id, user=user)
    run_worker_until_idle(queues=("default",))
    types = events.types("preflightresult", str(preflight.pk))
    preflight.refresh_from_db()
    assert preflight.status == Status.COMPLETE, preflight.exception
    assert preflight.results["plan"] == [
        {"status": "error", "message": "Plan-level error."},
        {"status": "warn", "message": "Plan-level warning."},
    ]
    assert preflight.error_count == 1 and preflight.warning_count == 1
    assert not preflight.is_ready
    assert types == ["PREFLIGHT_COMPLETED"]
    assert preflight.created_at <= preflight.started_at <= preflight.success_at


def test_preflight_with_warnings_only_is_ready_and_step_checks_are_keyed_by_step_id():
    steps = sample_steps()
    steps[0]["task_config"]["checks"] = [
        {"when": "True", "action": "warn", "message": "Step warning."}
    ]
    plan = publish_plan(steps=steps, preflight_checks=[])
    user = local_user()
    preflight = services.create_preflight(plan=plan, org_id=user.org_id, user=user)
    run_worker_until_idle(queues=("default",))
    preflight.refresh_from_db()
    first = plan.steps.order_by("step_num_key").first()
    assert preflight.status == Status.COMPLETE
    assert preflight.results == {first.hashid: [{"status": "warn", "message": "Step warning."}]}
    assert preflight.error_count == 0 and preflight.warning_count == 1
    assert preflight.is_ready


def test_preflight_sample_checks_call_product_tasks():
    plan = publish_plan()
    user = local_user()
    preflight = services.create_preflight(plan=plan, org_id=user.org_id, user=user)
    run_worker_until_idle(queues=("default",))
    preflight.refresh_from_db()
    assert preflight.status == Status.COMPLETE, preflight.exception
    assert preflight.is_ready, preflight.results


def test_preflight_that_raises_ends_failed(events):
    plan = publish_plan(preflight_checks=[
        {"when": "tasks.no_such_task()", "action": "error", "message": "x"},
    ])
    user = local_user()
    preflight = services.create_preflight(plan=plan, org_id=user.org_id, user=user)
    run_worker_until_idle(queues=("default",))
    types = events.types("preflightresult", str(preflight.pk))
    preflight.refresh_from_db()
    assert preflight.status == Status.FAILED
    assert preflight.exception
    assert types == ["PREFLIGHT_FAILED"]
