"""Benchmark of plan runs: dispatch latency, throughput, idle worker memory, child start cost.

Uses its own state directory (embedded PostgreSQL) and real `plandeploy web` / `plandeploy
worker` processes; every run is a real one-step CumulusCI flow of the sample product against
a local org.

  PLANDEPLOY_HOME=/tmp/pd-bench-runs .venv/bin/python benchmarks/runs.py
  PLANDEPLOY_HOME=/tmp/pd-bench-runs .venv/bin/python benchmarks/runs.py --latency-runs 50 \
      --throughput-runs 300 --repeat 1          # a quick look

1. Dispatch latency: N sequential runs through the HTTP API (POST /api/jobs/); the time
   from the POST's 201 to the first step starting (Job.started_at), p50/p95/p99.
2. Throughput: M one-step runs committed at once, run by 2 workers; runs/s, next to the
   same number of bare `ping` tasks (the queue's floor).
3. Idle worker RSS (the worker and its warm forkserver) and the per-run child start cost.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("PLANDEPLOY_HOME", "/tmp/pd-bench-runs")
os.environ.setdefault("LOG_LEVEL", "WARNING")
from plandeploy.testing import lift_rate_limits  # noqa: E402

lift_rate_limits()  # one loopback client is one address
STEP = {
    "step_num": "1",
    "name": "Configure settings",
    "path": "configure_settings",
    "task_class": "tasks.settings.ConfigureSettings",
    "task_config": {"options": {"settings": {"theme": "dark"}}, "checks": []},
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms_summary(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (f"{name:<44} p50 {percentile(ms, .5):7.1f} ms  p95 {percentile(ms, .95):7.1f} ms  "
            f"p99 {percentile(ms, .99):7.1f} ms  (n={len(ms)})")


# -- set-up ---------------------------------------------------------------------------------


def setup() -> None:
    from plandeploy import bootstrap

    bootstrap.start(progress=False)


def publish_one_step_plan():
    from plandeploy.runs.tests.factories import publish_plan

    return publish_plan(steps=[dict(STEP)])


@contextmanager
def service(*args: str, ready=None):
    process = subprocess.Popen(
        [sys.executable, "-m", "plandeploy.cli", *args], cwd=REPO_ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"}, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while ready and not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args[0]} did not start")
            time.sleep(0.05)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            process.kill()


def worker_ids() -> set[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM procrastinate_workers")
        return {row[0] for row in cursor.fetchall()}


def workers(count: int, concurrency: int):
    """Start `count` workers; return an exit stack that stops them."""
    from contextlib import ExitStack

    stack = ExitStack()
    processes = []
    for _ in range(count):
        before = worker_ids()
        processes.append(stack.enter_context(service(
            "worker", "--concurrency", str(concurrency), ready=lambda b=before: worker_ids() - b
        )))
    return stack, processes


def clear_queue() -> None:
    from plandeploy.runs.tests.factories import clear_queue as clear

    clear()


# -- 1. dispatch latency ---------------------------------------------------------------------


def dispatch_latency(runs: int) -> None:
    import httpx
    import psycopg

    from plandeploy.accounts.models import User
    from plandeploy.accounts.tokens import issue_token
    from plandeploy.runs.models import Job
    from plandeploy.testing.processes import free_port
    from plandeploy.testing.processes import test_database_url as database_url

    plan = publish_one_step_plan()
    user = User.objects.create(username=f"bench-{uuid.uuid4().hex[:8]}")
    token_key = issue_token(user)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"

    def web_ready() -> bool:
        try:
            return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    listen = psycopg.connect(database_url(), autocommit=True)
    listen.execute("LISTEN plandeploy_events")
    stack, _ = workers(1, 4)
    with stack, service("web", "--port", str(port), ready=web_ready), httpx.Client(
        base_url=base_url, headers={"Authorization": f"Token {token_key}"}, timeout=30
    ) as http:
        assert http.post("/api/orgs/connect/", json={}).status_code == 201
        body = {"plan": plan.hashid, "steps": [plan.steps.get().hashid]}
        from_201, from_post, post_time, total = [], [], [], []
        to_enqueued, to_started = [], []
        for n in range(runs + 3):
            sent = time.time()
            response = http.post("/api/jobs/", json=body)
            answered = time.time()
            assert response.status_code == 201, response.text
            job_id = response.json()["id"]
            done = None
            while done is None:
                for note in listen.notifies(timeout=10, stop_after=1):
                    event = json.loads(note.payload)
                    if event["id"] == job_id and event["type"] in (
                        "JOB_COMPLETED", "JOB_FAILED", "JOB_CANCELED"
                    ):
                        done = time.time()
            job = Job.objects.get(pk=Job.pk_from_hashid(job_id))
            assert job.status == "complete", job.exception
            if n < 3:
                continue  # warm-up: first forks touch cold pages
            started = job.started_at.timestamp()
            to_enqueued.append((job.enqueued_at - job.created_at).total_seconds())
            to_started.append((job.started_at - job.enqueued_at).total_seconds())
            from_201.append(started - answered)
            from_post.append(started - sent)
            post_time.append(answered - sent)
            total.append(done - sent)
    listen.close()
    print(f"\n1. Dispatch latency, {runs} sequential one-step runs through the HTTP API")
    print(ms_summary("POST 201 -> first step started", from_201))
    print(ms_summary("POST sent -> first step started", from_post))
    print(ms_summary("POST round trip (201)", post_time))
    print(ms_summary("POST sent -> JOB_COMPLETED received", total))
    print("   where the time goes (database timestamps):")
    print(ms_summary("   job inserted -> enqueued (enqueuer hop)", to_enqueued))
    print(ms_summary("   enqueued -> first step started (run hop)", to_started))


# -- 2. throughput ---------------------------------------------------------------------------


def make_users(count: int):
    from django.conf import settings
    from django.utils import timezone

    from plandeploy.accounts.models import FullOrgType, OrgConnection, OrgType, User

    tag = uuid.uuid4().hex[:8]
    users = User.objects.bulk_create(
        [User(username=f"bench-{tag}-{n}") for n in range(count)]
    )
    OrgConnection.objects.bulk_create([
        OrgConnection(
            user=user, org_type=OrgType.LOCAL, org_id=f"00D{tag}{n:07d}",
            full_org_type=FullOrgType.DEVELOPER, org_username=user.username,
            workspace=str(Path(settings.LOCAL_ORGS_ROOT) / f"bench-{tag}-{n}"),
            access_token=uuid.uuid4().hex, token_created_at=timezone.now(),
        )
        for n, user in enumerate(users)
    ])
    return list(User.objects.filter(username__startswith=f"bench-{tag}-")
                .select_related("org_connection"))


def _proc_stat(pid: int) -> tuple[str, int, list[int]] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    # ppid, then utime stime cutime cstime (clock ticks)
    return comm, int(fields[1]), [int(v) for v in fields[11:15]]


def cpu_by_kind(worker_pids: list[int]) -> dict[str, float]:
    """CPU seconds used so far by PostgreSQL, the workers, and their run processes (every
    live descendant of a worker: forkserver, project processes, runs, plus what each of
    them has reaped)."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = {"PostgreSQL": 0, "worker processes": 0, "run processes": 0}
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat

    def under_a_worker(pid: int) -> bool:
        while pid in stats and pid > 1:
            pid = stats[pid][1]
            if pid in worker_pids:
                return True
        return False

    for pid, (comm, _ppid, (utime, stime, cutime, cstime)) in stats.items():
        if comm == "postgres":
            totals["PostgreSQL"] += utime + stime + cutime + cstime
        elif pid in worker_pids:
            totals["worker processes"] += utime + stime
        elif under_a_worker(pid):
            totals["run processes"] += utime + stime + cutime + cstime
    return {kind: ticks / tick for kind, ticks in totals.items()}


def print_cpu_per(unit: str, before: dict[str, float], after: dict[str, float], count: int):
    print(f"   CPU per {unit}: " + ", ".join(
        f"{kind} {(after[kind] - before[kind]) * 1000 / count:.1f} ms" for kind in before))


def run_throughput(runs: int, concurrency: int) -> tuple[float, float]:
    from django.db import transaction
    from django.db.models import Max

    from plandeploy.runs import services
    from plandeploy.runs.models import Job, Status

    plan = publish_one_step_plan()
    steps = list(plan.steps.all())
    users = make_users(runs)
    clear_queue()
    stack, processes = workers(2, concurrency)
    worker_pids = [process.pid for process in processes]
    with stack:
        with transaction.atomic():
            pks = [services.create_job(plan=plan, steps=steps, user=u).pk for u in users]
            cpu_before = cpu_by_kind(worker_pids)
        committed = time.time()
        while Job.objects.filter(pk__in=pks, status=Status.STARTED).exists():
            time.sleep(0.2)
        elapsed = time.time() - committed
        cpu_after = cpu_by_kind(worker_pids)
        last = Job.objects.filter(pk__in=pks).aggregate(Max("success_at"))["success_at__max"]
    print_cpu_per("run", cpu_before, cpu_after, runs)
    failed = Job.objects.filter(pk__in=pks).exclude(status=Status.COMPLETE).count()
    if failed:
        print(f"   WARNING: {failed} runs did not complete")
    return runs / (last.timestamp() - committed), elapsed


def run_floor(runs: int, concurrency: int) -> float:
    from django.db import transaction

    from plandeploy import taskdefs
    from plandeploy.jobs.models import PingRecord

    clear_queue()
    tag = uuid.uuid4().hex[:8]
    stack, processes = workers(2, concurrency)
    worker_pids = [process.pid for process in processes]
    with stack:
        with transaction.atomic():
            for n in range(runs):
                taskdefs.ping.defer(token=f"{tag}-{n}")
            cpu_before = cpu_by_kind(worker_pids)
        committed = time.time()
        while PingRecord.objects.filter(token__startswith=tag).count() < runs:
            time.sleep(0.1)
        cpu_after = cpu_by_kind(worker_pids)
        from django.db.models import Max

        last = PingRecord.objects.filter(token__startswith=tag).aggregate(Max("received_at"))
    # A ping starts no run process.
    del cpu_before["run processes"]
    print_cpu_per("ping task", cpu_before, cpu_after, runs)
    return runs / (last["received_at__max"].timestamp() - committed)


def throughput(runs: int, repeat: int, concurrency: int) -> None:
    print(f"\n2. Throughput, {runs} one-step runs committed at once, 2 workers x "
          f"concurrency {concurrency} ({repeat} round(s))")
    rates, floors = [], []
    for n in range(repeat):
        rate, elapsed = run_throughput(runs, concurrency)
        floor = run_floor(runs, concurrency)
        rates.append(rate)
        floors.append(floor)
        print(f"   round {n + 1}: plan runs {rate:6.1f} runs/s ({elapsed:.1f} s)   "
              f"bare ping tasks {floor:6.1f} tasks/s")
    print(f"   median: plan runs {statistics.median(rates):.1f} runs/s, bare no-op tasks "
          f"{statistics.median(floors):.1f} tasks/s, ratio "
          f"{statistics.median(rates) / statistics.median(floors):.2f}")


# -- 3. memory and child start --------------------------------------------------------------


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def memory_and_child_start(pings: int) -> None:
    from plandeploy import bootstrap
    from plandeploy.flowrunner import FlowRunner, OrgInput, RunSpec, StepInput

    print("\n3. Idle worker memory and per-run child start")
    stack, (process,) = workers(1, 4)
    with stack:
        time.sleep(2)
        forkservers = children_of(process.pid)
        worker_rss = rss_kb(process.pid) / 1024
        server_rss = sum(rss_kb(pid) for pid in forkservers) / 1024
        worker_pss = pss_kb(process.pid) / 1024
        server_pss = sum(pss_kb(pid) for pid in forkservers) / 1024
    print(f"   idle worker RSS {worker_rss:.0f} MB + warm forkserver RSS {server_rss:.0f} MB "
          f"(PSS {worker_pss:.0f} + {server_pss:.0f} MB)")
    runner = FlowRunner()
    runner.start()
    try:
        runner.ping()
        print("   " + ms_summary("child start (fork from the warm server)",
                                [runner.ping() for _ in range(pings)]).strip())
        with tempfile.TemporaryDirectory() as tmp:
            times = []
            for n in range(pings):
                spec = RunSpec(
                    kind="flow", repo_dir=str(bootstrap.SAMPLE_PRODUCT),
                    steps=[StepInput("s1", "1", "Settings", STEP["task_class"],
                                     STEP["task_config"])],
                    org=OrgInput("local", "00D000000000001AAA", workspace=f"{tmp}/ws{n}"),
                    home_dir=f"{tmp}/home{n}",
                )
                started = time.perf_counter()
                result = runner.run(spec, on_event=lambda event: None)
                times.append(time.perf_counter() - started)
                assert result.outcome == "complete", result
            print("   " + ms_summary("one-step flow in a child, round trip", times).strip())
    finally:
        runner.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--throughput-runs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="throughput rounds (median)")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs per worker at once")
    parser.add_argument("--pings", type=int, default=50)
    parser.add_argument("--only", choices=["latency", "throughput", "memory"])
    args = parser.parse_args()
    setup()
    print(f"plandeploy plan-run benchmark, state in {os.environ['PLANDEPLOY_HOME']}, "
          f"{os.cpu_count()} CPUs")
    if args.only in (None, "latency"):
        clear_queue()
        dispatch_latency(args.latency_runs)
    if args.only in (None, "throughput"):
        throughput(args.throughput_runs, args.repeat, args.concurrency)
    if args.only in (None, "memory"):
        memory_and_child_start(args.pings)


if __name__ == "__main__":
    main()
