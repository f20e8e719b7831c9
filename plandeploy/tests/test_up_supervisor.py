"""`plandeploy up` restarts a child that died and still stops cleanly (real processes, the
test database through DATABASE_URL)."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil
import pytest

from plandeploy import queue
from plandeploy.runs import services
from plandeploy.runs.models import Job, Status
from plandeploy.runs.tests.factories import clear_queue, local_user, publish_plan, step_data
from plandeploy.testing.processes import (
    FAST_WORKER_TIMINGS,
    REPO_ROOT,
    free_port,
    subprocess_env,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _worker_children(up: subprocess.Popen) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(up.pid).children():
        try:
            if "worker" in child.cmdline():
                found.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            # A short-lived helper of `up` (pg_ctl, a killed worker) that has just exited.
            continue
    return found


def test_up_restarts_a_killed_worker_and_runs_still_complete(tmp_path):
    clear_queue()
    log = tmp_path / "up.log"
    with log.open("w") as output:
        up = subprocess.Popen(
            [sys.executable, "-m", "plandeploy.cli", "up", "--port", str(free_port())],
            env=subprocess_env(**FAST_WORKER_TIMINGS), cwd=REPO_ROOT,
            stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        first = wait_until(lambda: _worker_children(up), timeout=90, message="up's worker")[0]
        wait_until(lambda: queue.worker_ids(), timeout=90, message="the worker to register")
        registered = queue.worker_ids()
        first.send_signal(signal.SIGKILL)
        wait_until(lambda: "worker exited unexpectedly (killed by SIGKILL); restarting"
                   in log.read_text(), timeout=30, message="the restart log line")
        wait_until(lambda: queue.worker_ids() - registered, timeout=90,
                   message="a new worker to register")
        assert up.poll() is None, log.read_text()
        assert [child.pid for child in _worker_children(up)] != [first.pid]

        plan = publish_plan(steps=[step_data("1", "tasks.wait.Wait", seconds=0)])
        job = services.create_job(plan=plan, steps=plan.steps.all(), user=local_user())
        wait_until(lambda: Job.objects.get(pk=job.pk).status != Status.STARTED, timeout=90,
                   message="a run on the restarted worker")
        assert Job.objects.get(pk=job.pk).status == Status.COMPLETE
        children = psutil.Process(up.pid).children()
    finally:
        up.send_signal(signal.SIGTERM)
        returncode = up.wait(timeout=60)
    output = log.read_text()
    assert returncode == 0, output
    assert "worker restarted" in output and "stopped" in output
    assert not [child for child in children if child.is_running()]
