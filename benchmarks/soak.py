"""Chaos soak: plan runs and preflights through the API while workers die and PostgreSQL restarts.

Against real `plandeploy web` and `plandeploy worker` processes on an embedded PostgreSQL of
its own (a temporary PLANDEPLOY_HOME unless --home is given): U users, each with an API token
and a local org, run N plan runs and P preflights one after another through the HTTP API;
three workers (one of them only on queue `short`) take them, while a chaos loop SIGKILLs or
SIGTERMs a random worker every few seconds and restarts it, and PostgreSQL is stopped and
started once half-way. Every schedule runs every tick (a minute by default) throughout.

At the end it reads the database and checks: no accepted job lost, no row left `started` and
no queue row left `doing`, a readable reason on every canceled/failed row, never two runs on
one org at once, every schedule succeeded in each undisturbed tick (and in every tick after
the last kill), no workspace that nothing references, and no process that died by itself.
Exit status 1 when a check fails.

  .venv/bin/python benchmarks/soak.py                         # 1000 runs, 300 preflights
  .venv/bin/python benchmarks/soak.py --runs 50 --preflights 20 --users 5 --kills 2 --tick 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from soak_clients import Tally, Target, UserClient, deal_operations  # noqa: E402
from soak_fleet import Fleet, restart_database  # noqa: E402

from plandeploy.testing import lift_rate_limits  # noqa: E402

# Worker timings short enough for kills to be detected in seconds. A worker whose heartbeat
# is older than the stalled limit is taken for dead, so the limit stays above the time
# PostgreSQL is down (--pg-down plus its stop and start).
FAST_TIMINGS = {
    "SHUTDOWN_GRACE_SECONDS": "3",
    "WORKER_HEARTBEAT_SECONDS": "1",
    "STALLED_WORKER_SECONDS": "15",
    "CANCEL_GRACE_SECONDS": "5",
}
SCHEDULES = ("cleanup_user_data", "expire_preflight_results", "calculate_average_plan_runtimes",
             "enqueue_jobs", "fail_stalled_jobs", "expire_scratch_orgs")
console = Console()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--runs", type=int, default=1000, help="plan runs to post")
    add("--preflights", type=int, default=300, help="preflights to post")
    add("--users", type=int, default=50, help="users, each with its own local org")
    add("--kills", type=int, default=100, help="worker kills at most (SIGKILL or SIGTERM)")
    add("--kill-interval", type=float, default=5.0, help="mean seconds between kills")
    add("--duration", type=float, default=1800, help="seconds after which nothing new is posted")
    add("--drain", type=float, default=180, help="seconds to wait for accepted runs to end")
    add("--no-pg-restart", dest="pg_restart", action="store_false")
    add("--pg-down", type=float, default=5.0, help="seconds PostgreSQL stays down")
    add("--tick", type=int, default=60, help="seconds between schedule ticks (divides 60)")
    add("--recovery", type=float, default=None,
        help="seconds after a kill within which a missed tick is forgiven "
             "(default: the stalled-worker limit + 5)")
    add("--step-seconds", type=float, default=0.5, help="length of the plan's wait step")
    add("--concurrency", type=int, default=4, help="slots of each worker")
    add("--poll", type=float, default=1.0, help="seconds between a client's status polls")
    add("--contend", type=float, default=0.0,
        help="probability that a user asks for a second run on its busy org (must be refused)")
    add("--token-lifetime", type=int, default=120, help="TOKEN_LIFETIME_MINUTES")
    add("--preflight-lifetime", type=int, default=2, help="PREFLIGHT_LIFETIME_MINUTES")
    add("--seed", type=int, default=None)
    add("--home", type=Path, default=None, help="state directory (default: a new temporary one)")
    add("--report", type=Path, default=None, help="write the checks and figures here as JSON")
    args = parser.parse_args(argv)
    if 60 % args.tick:
        parser.error("--tick must divide 60")
    return args


def configure(args: argparse.Namespace) -> Path:
    """The environment of the soak and of every process it starts."""
    home = (args.home or Path(tempfile.mkdtemp(prefix="pd-soak-"))).resolve()
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    cron = "* * * * *" if args.tick == 60 else f"* * * * * */{args.tick}"
    os.environ.update(
        PLANDEPLOY_HOME=str(home),
        # Run homes are temporary directories: kept apart, those a kill leaves are counted.
        TMPDIR=str(home / "tmp"),
        LOG_LEVEL=os.environ.get("SOAK_LOG_LEVEL", "WARNING"),
        CRON_SCHEDULE=json.dumps({name: cron for name in SCHEDULES}),
        TOKEN_LIFETIME_MINUTES=str(args.token_lifetime),
        PREFLIGHT_LIFETIME_MINUTES=str(args.preflight_lifetime),
        JOB_TIMEOUT="300",
        SHORT_JOB_TIMEOUT="60",
        PYTHONUNBUFFERED="1",
        **FAST_TIMINGS,
    )
    os.environ.pop("DATABASE_URL", None)
    lift_rate_limits()  # 50 users behind one loopback address
    return home


def prepare(args: argparse.Namespace):
    """Database, plans and users (through the ORM); returns the target and users' tokens."""
    from plandeploy import bootstrap

    bootstrap.start(progress=False)
    from plandeploy.accounts.models import User
    from plandeploy.accounts.tokens import issue_token
    from plandeploy.runs.tests.factories import publish_plan, step_data

    run_plan = publish_plan(steps=[
        step_data("1", "tasks.settings.ConfigureSettings", settings={"theme": "dark"}),
        step_data("2", "tasks.wait.Wait", seconds=args.step_seconds),
    ])
    preflight_plan = publish_plan()
    users = User.objects.bulk_create(
        [User(username=f"soak-{n}") for n in range(args.users)])
    tokens = {u.username: issue_token(u) for u in users}
    steps = [step.hashid for step in run_plan.steps.order_by("step_num")]
    return run_plan.hashid, steps, preflight_plan.hashid, tokens


def wait_until_ready(base_url: str, fleet: Fleet, workers: int, timeout: float = 120) -> None:
    from plandeploy import queue

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fleet.check_exits()
        try:
            web_ok = httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            web_ok = False
        if web_ok and len(queue.worker_ids()) >= workers:
            return
        time.sleep(0.3)
    raise SystemExit("the web server or the workers did not start; see the logs in "
                     f"{fleet.log_dir}")


class Soak:
    """The soak's moving parts while it runs: clients, chaos, the restart, the display."""

    def __init__(self, args, fleet: Fleet, target: Target, tokens: dict[str, str],
                 home: Path) -> None:
        self.args, self.fleet, self.target, self.home = args, fleet, target, home
        self.rng = random.Random(args.seed)
        self.tally = Tally()
        self.lock = threading.Lock()  # one fleet operation at a time
        ops = deal_operations(args.runs, args.preflights, args.users, self.rng)
        self.clients = [
            UserClient(name, token, ops[n], target, self.tally, random.Random(self.rng.random()))
            for n, (name, token) in enumerate(tokens.items())
        ]
        self.stop_posting = asyncio.Event()
        self.work_done = asyncio.Event()
        self.pg_restarted = False
        self.started = time.time()

    def _locked(self, func, *args):
        with self.lock:
            return func(*args)

    async def chaos(self) -> None:
        kills = 0
        while kills < self.args.kills and not self.work_done.is_set():
            pause = self.rng.uniform(0.5, 1.5) * self.args.kill_interval
            try:
                await asyncio.wait_for(self.work_done.wait(), pause)
                return
            except TimeoutError:
                pass
            if await asyncio.to_thread(self._locked, self.fleet.kill_random_worker,
                                       self.rng, 3.0):
                kills += 1

    async def watch_exits(self) -> None:
        while not self.work_done.is_set():
            await asyncio.to_thread(self._locked, self.fleet.check_exits)
            await asyncio.sleep(0.5)

    async def restart_postgres_half_way(self) -> None:
        while self.tally.count("run") < self.args.runs / 2 and not self.work_done.is_set():
            await asyncio.sleep(0.5)
        if self.work_done.is_set():
            return
        from django.db import connections

        await asyncio.to_thread(self._locked, restart_database, self.home, self.args.pg_down,
                                self.fleet, connections.close_all)
        self.pg_restarted = True

    def status_line(self) -> str:
        t, f = self.tally, self.fleet
        return (f"runs {t.ended('run')}/{t.count('run')}/{self.args.runs}  preflights "
                f"{t.ended('preflight')}/{t.count('preflight')}/{self.args.preflights}  "
                f"kills {f.count('kill')} terms {f.count('term')} exits {f.count('exited')} "
                f"pg {'restarted' if self.pg_restarted else 'not yet'}  busy-retries "
                f"{t.busy_refusals} errors-retried {t.retried_errors}  "
                f"{time.time() - self.started:.0f} s")

    async def show_progress(self) -> None:
        from rich.live import Live

        if console.is_terminal:
            with Live(self.status_line(), console=console, refresh_per_second=2) as live:
                while not self.work_done.is_set():
                    live.update(self.status_line())
                    await asyncio.sleep(0.5)
                live.update(self.status_line())
            return
        while not self.work_done.is_set():
            await asyncio.sleep(10)
            console.print(self.status_line())

    async def run(self) -> None:
        async def clients() -> None:
            tasks = [asyncio.create_task(c.run(self.stop_posting)) for c in self.clients]
            done, pending = await asyncio.wait(tasks, timeout=self.args.duration)
            self.stop_posting.set()
            if pending:
                console.print(f"--duration reached: {len(pending)} users stop posting")
                _done, still = await asyncio.wait(pending, timeout=self.args.drain)
                for task in still:
                    task.cancel()
                if still:
                    console.print(f"{len(still)} users still waited after --drain")
            self.work_done.set()

        side = [self.chaos(), self.watch_exits(), self.show_progress()]
        if self.args.pg_restart:
            side.append(self.restart_postgres_half_way())
        await asyncio.gather(clients(), *side)

    def settle(self, recovery: float) -> float:
        """Wait for a whole tick after the last kill or restart (and its recovery)."""
        tick = self.args.tick
        last = self.fleet.last("kill", "term", "pg_start", "exited") or time.time()
        first_tick = math.floor((last + recovery) / tick + 1) * tick
        until = first_tick + tick + 3
        console.print(f"waiting {max(0, until - time.time()):.0f} s for an undisturbed tick "
                      "after the last kill")
        while time.time() < until:
            with self.lock:
                self.fleet.check_exits()
            time.sleep(0.5)
        return until - 3


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = configure(args)
    console.print(f"soak: {args.runs} runs, {args.preflights} preflights, {args.users} users, "
                  f"up to {args.kills} kills, state in {home}")
    run_plan, steps, preflight_plan, tokens = prepare(args)
    from plandeploy import queue
    from plandeploy.testing.processes import free_port

    fleet = Fleet(env=dict(os.environ), log_dir=home / "logs",
                  stop_grace_seconds=float(FAST_TIMINGS["SHUTDOWN_GRACE_SECONDS"]) + 20)
    port = free_port()
    fleet.add("web", "web", "--port", str(port))
    for name, queues in (("worker-1", "default,short"), ("worker-2", "default,short"),
                         ("worker-3", "short")):
        fleet.add(name, "worker", "--queues", queues, "--concurrency", str(args.concurrency),
                  "--name", name)
    base_url = f"http://127.0.0.1:{port}"
    for service in fleet.services.values():
        fleet.start(service)
    import soak_checks
    from soak_report import report

    watcher = soak_checks.ScheduleWatcher(_database_url(home))
    try:
        wait_until_ready(base_url, fleet, workers=3)
        recovery = args.recovery if args.recovery is not None else \
            queue.stalled_after_seconds() + 5
        target = Target(base_url, run_plan, steps, preflight_plan, args.poll, args.contend)
        soak = Soak(args, fleet, target, tokens, home)
        watcher.start()
        asyncio.run(soak.run())
        workload_seconds = time.time() - soak.started
        until = soak.settle(recovery)
        watcher.stop()
    finally:
        fleet.stop_all()
    from django.db import connections

    connections.close_all()
    return report(args, soak, fleet, watcher, home, since=soak.started, until=until,
                  recovery=recovery, workload_seconds=workload_seconds, console=console)


def _database_url(home: Path) -> str:
    from plandeploy import embedded_db

    return embedded_db.for_home(home).url()


if __name__ == "__main__":
    sys.exit(main())
