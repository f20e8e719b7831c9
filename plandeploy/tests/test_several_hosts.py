"""One PostgreSQL, two worker hosts and a web host, each with a state directory of its own and
only LOCAL_ORGS_ROOT shared: runs spread over both workers, each periodic job runs once per
tick, a local org connected through the web host and a scratch org run on either worker, and a
worker host killed mid-run ends its run `canceled` while the other carries on.

Which host ran what is read from each host's JSON log (every task's lines carry its queue job
id and task name).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from django.db import transaction

from plandeploy.accounts.models import User
from plandeploy.accounts.tokens import issue_token
from plandeploy.jobs.tests.scratch_support import scratch_plan
from plandeploy.runs import services
from plandeploy.runs.models import (
    INTERRUPTED_MESSAGE,
    Job,
    PreflightResult,
    ScratchOrg,
    SharedDirectory,
)
from plandeploy.runs.scratch_org_removal import request_deletion
from plandeploy.runs.tests.factories import clear_queue, publish_plan, step_data
from plandeploy.testing.processes import (
    FAST_WORKER_TIMINGS,
    REPO_ROOT,
    subprocess_env,
    wait_until,
    web_process,
    worker_process,
)

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = "tasks.wait.Wait"
TICKING = "fail_stalled_jobs"  # every 2 s here; it also ends the runs of the killed host
SCHEDULES = {
    TICKING: "* * * * * */2",
    "cleanup_user_data": None,
    "expire_preflight_results": None,
    "calculate_average_plan_runtimes": None,
    "enqueue_jobs": None,
    "expire_scratch_orgs": None,
}
_STARTING_RE = re.compile(r"^Starting job (\w+)\[(\d+)\]\((.*)\)$")


class Host:
    """A host: a state directory of its own; LOCAL_ORGS_ROOT is the one shared directory."""

    def __init__(self, tmp_path: Path, name: str, shared: Path) -> None:
        self.name = name
        self.home = tmp_path / name
        self.home.mkdir()
        self.log = self.home / "log.jsonl"
        self.env = {
            **FAST_WORKER_TIMINGS,
            "PLANDEPLOY_HOME": str(self.home),
            "REPO_CACHE_ROOT": str(self.home / "repos"),
            "LOCAL_ORGS_ROOT": str(shared),
            "CRON_SCHEDULE": json.dumps(SCHEDULES),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "PROCRASTINATE_LOG_LEVEL": "INFO",
        }

    @contextlib.contextmanager
    def worker(self):
        with self.log.open("a") as output, worker_process(
            concurrency=1, output=output, **self.env
        ) as process:
            yield process

    def started(self) -> list[tuple[str, int, str]]:
        """(task, queue job id, arguments) of every job this host started."""
        found = []
        for line in self.log.read_text().splitlines() if self.log.exists() else []:
            if not line.startswith("{"):
                continue
            match = _STARTING_RE.match(json.loads(line)["message"])
            if match:
                found.append((match[1], int(match[2]), match[3]))
        return found

    def ran(self, task: str) -> set[int]:
        return {job_id for name, job_id, _args in self.started() if name == task}


class WebUser:
    """A user of the web host with a local org connected through it."""

    def __init__(self, base_url: str) -> None:
        self.user = User.objects.create(username=f"u{os.urandom(4).hex()}")
        token = issue_token(self.user)
        self.http = httpx.Client(base_url=base_url, timeout=30,
                                 headers={"Authorization": f"Token {token}"})
        connected = self.http.post("/api/orgs/connect/", json={"name": "Org"})
        assert connected.status_code == 201, connected.text

    def start(self, plan) -> Job:
        steps = [s.hashid for s in plan.steps.order_by("step_num_key")]
        response = self.http.post("/api/jobs/", json={"plan": plan.hashid, "steps": steps})
        assert response.status_code == 201, response.text
        return Job.objects.get(pk=Job.pk_from_hashid(response.json()["id"]))


def ended(job: Job, timeout: float = 60) -> Job:
    return wait_until(lambda: (row := Job.objects.get(pk=job.pk)).status != "started" and row,
                      timeout=timeout, interval=0.1, message=f"job {job.pk} to end")


def queue_job(job: Job) -> int:
    return wait_until(lambda: Job.objects.get(pk=job.pk).job_id, message="the run's queue job")


class Workers:
    """The worker process of each host, started and stopped (or killed) at will."""

    def __init__(self) -> None:
        self.running: dict[str, tuple[contextlib.ExitStack, subprocess.Popen]] = {}

    def start(self, host: Host) -> None:
        stack = contextlib.ExitStack()
        self.running[host.name] = (stack, stack.enter_context(host.worker()))

    def stop(self, host: Host) -> None:
        self.running.pop(host.name)[0].close()

    def kill(self, host: Host) -> None:
        """SIGKILL the host's worker and the processes it started, as a host crash would."""
        stack, process = self.running.pop(host.name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        stack.close()

    def close(self) -> None:
        for name in list(self.running):
            self.running.pop(name)[0].close()


def test_several_hosts_share_one_database_and_only_the_documented_directory(tmp_path):
    clear_queue()
    # A fresh deployment: no host has marked a shared directory yet.
    SharedDirectory.objects.all().delete()
    shared = tmp_path / "shared-orgs"
    one, two, web = (Host(tmp_path, name, shared) for name in ("worker-1", "worker-2", "web"))
    quick = publish_plan(steps=[step_data("1", WAIT, seconds=1.5)])
    workers = Workers()
    with contextlib.ExitStack() as stack:
        base_url = stack.enter_context(web_process(**web.env))
        stack.callback(workers.close)
        workers.start(one)
        workers.start(two)

        # A host whose LOCAL_ORGS_ROOT is a private directory is refused at start-up.
        refused = subprocess.run(
            [sys.executable, "-m", "plandeploy.cli", "worker"],
            env=subprocess_env(**{**one.env, "LOCAL_ORGS_ROOT": str(tmp_path / "private")}),
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        )
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "LOCAL_ORGS_ROOT" in refused.stdout and "not the directory" in refused.stdout

        # Runs spread over both workers (one slot each), on orgs connected through the web.
        users = [WebUser(base_url) for _ in range(4)]
        for user in users:
            user.user.refresh_from_db()
            assert not Path(user.user.org_connection.workspace).is_absolute()
        jobs = [user.start(quick) for user in users]
        assert [ended(job).status for job in jobs] == ["complete"] * 4
        by_host = {host.name: host.ran("run_flows_job") for host in (one, two)}
        assert all(by_host.values()), by_host
        assert set().union(*by_host.values()) == {queue_job(job) for job in jobs}

        # A scratch org created through the web host on worker 1 (worker 2 stopped) ...
        plan = scratch_plan(steps=[step_data("1", WAIT, seconds=0.1),
                                   {**step_data("2", WAIT, seconds=0.1), "is_required": False}],
                            preflight_checks=[])
        workers.stop(two)
        with httpx.Client(base_url=base_url, timeout=30) as visitor:
            # An anonymous write carries the CSRF cookie's token, as the page's script does.
            assert visitor.get("/api/ui/bootstrap/").status_code == 200
            created = visitor.post(f"/api/plans/{plan.hashid}/scratch_org/",
                                   json={"email": "admin@example.com"},
                                   headers={"X-CSRFToken": visitor.cookies["csrftoken"]})
        assert created.status_code == 202, created.text
        org = wait_until(lambda: (o := ScratchOrg.objects.get(uuid=created.json()["uuid"]))
                         .status == "complete" and o, timeout=60, message="the scratch org")
        assert org.config["workspace"] == f"scratch/{org.org_id}"
        assert (shared / org.config["workspace"]).is_dir()  # in the shared directory
        wait_until(lambda: org.job_id in one.ran("create_scratch_org"), message="its log")
        # ... is preflighted, installed and deleted from worker 2 (worker 1 stopped).
        workers.stop(one)
        workers.start(two)
        preflight = services.request_preflight(plan=plan, scratch_org=org)
        wait_until(lambda: PreflightResult.objects.get(pk=preflight.pk).status == "complete",
                   timeout=60, message="the scratch org's preflight")
        install = services.create_job(plan=plan, steps=plan.steps.all(), scratch_org=org)
        assert ended(install).status == "complete"
        with transaction.atomic():
            assert request_deletion(org.pk)
        wait_until(lambda: not ScratchOrg.objects.filter(pk=org.pk).exists(), timeout=60,
                   message="the scratch org's deletion")
        assert PreflightResult.objects.get(pk=preflight.pk).job_id in two.ran("preflight_job")
        assert queue_job(install) in two.ran("run_flows_job")
        assert two.ran("delete_scratch_org") and not one.ran("delete_scratch_org")
        assert not (shared / "scratch" / org.org_id).exists()

        # A worker host killed mid-run: its run ends canceled, the other host carries on.
        workers.start(one)
        long = publish_plan(steps=[step_data("1", WAIT, seconds=120)])
        short = publish_plan(steps=[step_data("1", WAIT, seconds=4)])
        doomed = users[0].start(long)
        doomed_queue_job = queue_job(doomed)
        victim, survivor = wait_until(
            lambda: (one, two) if doomed_queue_job in one.ran("run_flows_job")
            else (two, one) if doomed_queue_job in two.ran("run_flows_job") else None,
            message="a worker to start the long run",
        )
        carried_on = users[1].start(short)
        wait_until(lambda: queue_job(carried_on) in survivor.ran("run_flows_job"),
                   message="the other worker to start a run")
        workers.kill(victim)
        assert ended(carried_on).status == "complete"
        interrupted = ended(doomed, timeout=60)
        assert interrupted.status == "canceled"
        assert interrupted.exception == INTERRUPTED_MESSAGE
        # The killed run's org runs again, on the surviving host.
        again = users[0].start(quick)
        assert ended(again).status == "complete"
        assert queue_job(again) in survivor.ran("run_flows_job")

    # Each periodic tick ran once, on one host or the other, never on both.
    ticks = Counter(args for host in (one, two) for name, _id, args in host.started()
                    if name == TICKING)
    assert len(ticks) >= 5 and set(ticks.values()) == {1}, ticks
    assert all(host.ran(TICKING) for host in (one, two))
