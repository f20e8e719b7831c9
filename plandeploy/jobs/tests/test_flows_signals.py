"""Plan runs whose worker is stopped or killed, or which run too long: each test starts its
own worker processes (real HTTP API, queue, CumulusCI child processes)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from plandeploy.jobs.tests.test_flows_worker import FAST, WAIT, Client, job_row, steps_of
from plandeploy.runs.models import INTERRUPTED_MESSAGE
from plandeploy.runs.tests.factories import clear_queue, publish_plan, step_data
from plandeploy.testing.processes import wait_until, worker_process
from plandeploy.tests.queue_rows import count_jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_queue():
    clear_queue()


def test_run_over_the_time_limit_is_stopped_and_canceled(web):
    client = Client(web)
    plan = publish_plan(steps=[step_data("1", WAIT, seconds=300)])
    with worker_process(queues="default,short", concurrency=1, JOB_TIMEOUT="3"):
        job_id = client.start(plan)
        data = client.wait_status(job_id, timeout=60)
    row = job_row(job_id)
    assert data["status"] == "canceled"
    assert "exceeded the time limit of 3 seconds" in row.exception


def test_worker_sigterm_lets_short_runs_finish_and_interrupts_long_ones(web):
    quick, slow = Client(web), Client(web)
    quick_plan = publish_plan(steps=[step_data("1", WAIT, seconds=1)])
    slow_plan = publish_plan(steps=[step_data("1", WAIT, seconds=300)])
    with worker_process(queues="default,short", concurrency=2, **FAST) as process:
        slow_id = slow.start(slow_plan)
        slow.wait_step_started(slow_id, steps_of(slow_plan)[0])
        quick_id = quick.start(quick_plan)
        quick.wait_step_started(quick_id, steps_of(quick_plan)[0])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) is not None
    assert quick.job(quick_id)["status"] == "complete"
    slow_row = job_row(slow_id)
    assert slow_row.status == "canceled"
    assert slow_row.exception == INTERRUPTED_MESSAGE


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_worker_sigkill_ends_the_run_interrupted_and_another_worker_carries_on(web):
    """A crashed worker's run is ended by the stalled-worker sweep of another worker;
    its child process dies with it; the org's next run goes ahead on the live worker."""
    client = Client(web)
    plan = publish_plan(steps=[step_data("1", WAIT, seconds=300)])
    crashing = worker_process(queues="default,short", concurrency=1, **FAST)
    process = crashing.__enter__()
    try:
        job_id = client.start(plan)
        client.wait_step_started(job_id, steps_of(plan)[0])
        run_processes = descendants(process.pid)
        assert run_processes, "the run has no child process"
        with worker_process(queues="default,short", concurrency=1, **FAST):
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            wait_until(lambda: not any(alive(pid) for pid in run_processes), timeout=15,
                       message="the run's processes to die with their worker")
            data = client.wait_status(job_id, timeout=120)
            row = job_row(job_id)
            assert data["status"] == "canceled"
            assert row.exception == INTERRUPTED_MESSAGE and row.canceled_at is not None
            # The org is free again and the surviving worker runs its next plan.
            next_plan = publish_plan(steps=[step_data("1", WAIT, seconds=0.1)])
            assert client.wait_status(client.start(next_plan))["status"] == "complete"
    finally:
        crashing.__exit__(None, None, None)


def test_cancel_through_the_api_before_any_worker_runs_it(web):
    """A job canceled while it waits ends at once and never runs a step once workers come."""
    client = Client(web)
    plan = publish_plan(steps=[step_data("1", WAIT, seconds=0.1)])
    job_id = client.start(plan)
    client.cancel(job_id)
    assert client.job(job_id)["status"] == "canceled"
    with worker_process(queues="default,short", concurrency=1, **FAST):
        # Whatever was queued for it (its enqueuer task) runs and finds nothing to do.
        wait_until(lambda: not _queued(), timeout=60, message="the queue to drain")
    row = job_row(job_id)
    assert row.status == "canceled" and row.started_at is None and row.results == {}
    assert not client.workspace.exists() or not any(client.workspace.iterdir())


def _queued() -> bool:
    return count_jobs(["enqueuer_job", "run_flows_job"], ("todo", "doing")) > 0
