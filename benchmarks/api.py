"""Benchmark of the HTTP side: the API's reads and writes and the pages, next to a bare view.

A real `plandeploy web` subprocess, started exactly as `plandeploy web` starts (its default
worker processes and threads), serves a database this script prepares in its own state
directory (embedded PostgreSQL). The only difference is a settings module that adds one URL,
a bare Django JSON view with no database work (benchmarks/bench_urls.py): measured on the same
server in the same run, it is the reference row, and each endpoint's ratio to it is the figure
that survives a busy machine.

The load comes from `wrk` (Debian's: `apt-get install -y wrk`) on loopback, at 16 and 64
connections; each POST is also sent from one connection, one request at a time, for its round
trip (the latency a user's click sees, without other users' requests queued ahead of it).
Before each load run the script waits until the server has served the previous run's queued
requests, so that no row measures the backlog of the one before it.
Every POST comes from its own user with its own connected org and API token (a Lua script
hands each request the next one), because an org runs one job or preflight at a
time; no worker runs, so the jobs and preflights wait in the queue, which is the cost the
endpoints pay. Memory is the resident set of each web process after the runs.

  .venv/bin/python benchmarks/api.py                        # 3 runs, 8 s per GET, 4 s per POST
  .venv/bin/python benchmarks/api.py --runs 1 --seconds 3   # a quick look

Prints each run's rows, then the medians of the runs with their ratio to the bare view and
whether the targets hold: every GET at least half the bare view's req/s with p99 <= 25 ms at
16 connections, the POSTs' round-trip p50 <= 10 ms, no errors.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("PLANDEPLOY_HOME", "/tmp/pd-bench-api")
os.environ.setdefault("LOG_LEVEL", "WARNING")
from plandeploy.testing import lift_rate_limits  # noqa: E402

lift_rate_limits()  # one loopback client is one address

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
CONNECTIONS = (16, 64)
ROUND_TRIP = 1  # connections of the POSTs' round-trip rows

# Hands each request the next API token of its thread's share of the file, and sends the
# body given in the environment: every POST comes from a user of its own.
POST_SCRIPT = """
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local body = os.getenv("BENCH_BODY")
local stride = tonumber(os.getenv("BENCH_THREADS"))
local count = 0
offset = 0
function setup(thread)
  thread:set("offset", count)
  count = count + 1
end
local sent = 0
function request()
  local token = tokens[offset + sent * stride + 1] or "exhausted"
  sent = sent + 1
  return wrk.format("POST", nil, {["Authorization"] = "Token " .. token,
                                  ["Content-Type"] = "application/json"}, body)
end
"""


@dataclass
class Endpoint:
    name: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    body: str = ""


# -- set-up of the measured service -----------------------------------------------------------


def setup() -> None:
    from plandeploy import bootstrap

    bootstrap.start(progress=False)


def make_users(count: int) -> list[str]:
    """`count` users with a connected org and an API token each; returns the keys."""
    from django.db import transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from plandeploy.accounts.models import FullOrgType, OrgConnection, OrgType, User
    from plandeploy.accounts.tokens import digest

    tag = secrets.token_hex(4)
    now = timezone.now()
    with transaction.atomic():
        users = User.objects.bulk_create(
            User(username=f"bench-{tag}-{n}", password="!", last_login=now) for n in range(count)
        )
        OrgConnection.objects.bulk_create(
            OrgConnection(user=user, org_id=f"00D{tag}{n:07d}", org_name="bench",
                          org_type=OrgType.LOCAL, full_org_type=FullOrgType.DEVELOPER,
                          access_token="x", token_created_at=now)
            for n, user in enumerate(users)
        )
        keys = [secrets.token_hex(20) for _ in users]
        # Stored as their digests, as issue_token stores them; the clients hold the keys.
        Token.objects.bulk_create(
            Token(user=user, key=digest(key)) for user, key in zip(users, keys, strict=True)
        )
    return keys


def prepare() -> tuple[list[Endpoint], list[Endpoint]]:
    """The GET endpoints and the POST endpoints (their paths and bodies) of the run."""
    import json

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from plandeploy.accounts.services import connect_local_org
    from plandeploy.accounts.tokens import issue_token
    from plandeploy.catalog.tests import factories
    from plandeploy.runs.models import Job, Status
    from plandeploy.web import lookups

    # Six steps, as a typical product's plan has; the first carries a check, so the plan
    # takes preflights. The plan runs are posted to a twin without checks (no preflight needed).
    plan = factories.plan(steps=6, checks=True, calculated_average_duration=90)
    runnable = factories.plan(plan.version, steps=6, calculated_average_duration=90)
    for _ in range(4):  # a product list of a few products
        factories.plan(steps=3)
    owner = factories.user(connected=False)
    connect_local_org(owner, "Benchmark org")
    token = issue_token(owner)
    steps = list(plan.steps.all())
    job = Job.objects.create(
        user=owner, plan=plan, org_id=owner.org_id, status=Status.COMPLETE,
        results={step.hashid: [{"status": "ok", "logs": "line\n" * 40}] for step in steps},
    )
    job.steps.set(steps)
    session = SessionStore()
    session[SESSION_KEY] = str(owner.pk)
    session[BACKEND_SESSION_KEY] = "plandeploy.accounts.backends.PasswordBackend"
    session[HASH_SESSION_KEY] = owner.get_session_auth_hash()
    session.create()
    cookie = {"Cookie": f"sessionid={session.session_key}"}
    plan = type(plan).objects.get(pk=plan.pk)
    plan_api = f"/api/plans/{plan.hashid}/"
    gets = [
        Endpoint("bare Django view", "/bench/bare"),
        Endpoint("/healthz", "/healthz"),
        Endpoint("GET /api/products/", "/api/products/"),
        Endpoint("GET plan (anonymous)", plan_api),
        Endpoint("GET plan (API token)", plan_api, {"Authorization": f"Token {token}"}),
        Endpoint("GET plan (Accept-Language: es)", plan_api, {"Accept-Language": "es"}),
        Endpoint("GET job (API token)", f"/api/jobs/{job.hashid}/",
                 {"Authorization": f"Token {token}"}),
        Endpoint("plan page (signed in)", lookups.plan_url(plan), cookie),
        Endpoint("job page (signed in)", lookups.plan_url(plan, "job", job=job.hashid), cookie),
    ]
    body = json.dumps({"plan": runnable.hashid,
                       "steps": [step.hashid for step in runnable.steps.all()]})
    posts = [
        Endpoint("POST /api/jobs/", "/api/jobs/", method="POST", body=body),
        Endpoint("POST preflight", f"{plan_api}preflight/", method="POST", body="{}"),
    ]
    return gets, posts


@contextmanager
def web_server(port: int, workers: int | None):
    import httpx

    command = [sys.executable, "-m", "plandeploy.cli", "web", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    env = {
        **os.environ,
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG": "false",
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), str(REPO_ROOT)]),
        # The posted runs wait in the queue (no worker runs): the queue-length guard would
        # refuse them after a few.
        "MAX_QUEUE_LENGTH": "100000000",
    }
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("plandeploy web exited early")
            try:
                if httpx.get(f"{base}/bench/bare", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("plandeploy web did not answer")
            time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def web_memory(process: subprocess.Popen) -> list[float]:
    """Resident MB of each process that serves requests (the workers, or the one process)."""
    import psutil

    parent = psutil.Process(process.pid)
    serving = [child for child in parent.children(recursive=True)
               if "spawn_main" in " ".join(child.cmdline())]
    return [p.memory_info().rss / 2**20 for p in (serving or [parent])]


# -- the load generator -----------------------------------------------------------------------


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * _UNITS[unit]


def wrk(base: str, endpoint: Endpoint, connections: int, seconds: float, threads: int,
        tokens_file: Path | None = None, script: Path | None = None) -> dict:
    settle(base)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for name, value in endpoint.headers.items():
        command += ["-H", f"{name}: {value}"]
    env = dict(os.environ)
    if endpoint.method == "POST":
        command += ["-s", str(script)]
        env.update(BENCH_TOKENS=str(tokens_file), BENCH_BODY=endpoint.body,
                   BENCH_THREADS=str(threads))
    output = subprocess.run(
        [*command, base + endpoint.path], capture_output=True, text=True, check=True,
        timeout=seconds + 60, env=env,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.MULTILINE))
    if set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50_ms": _ms(percentiles["50"]),
        "p99_ms": _ms(percentiles["99"]),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
                  + (sum(int(n) for n in sockets.groups()) if sockets else 0),
    }


def settle(base: str, timeout: float = 15.0) -> None:
    """Wait until the server has answered every request of the last load run.

    wrk stops sending at its deadline, but the requests it left queued (up to one per
    connection: at 64 connections of a page, a good part of a second of work) are still
    served after it, and would land in the next endpoint's first milliseconds: its p99
    measured the previous endpoint's backlog. Idle means five bare requests in a row, one
    at a time, each answered within 5 ms.
    """
    import httpx

    deadline = time.monotonic() + timeout
    quick = 0
    with httpx.Client(base_url=base, timeout=5) as client:
        while quick < 5 and time.monotonic() < deadline:
            started = time.perf_counter()
            client.get("/bench/bare")
            quick = quick + 1 if time.perf_counter() - started < 0.005 else 0


def row(name: str, connections: int, result: dict, bare_rps: float | None = None) -> str:
    ratio = f"{result['rps'] / bare_rps:5.2f}" if bare_rps else "    -"
    return (f"| {name:<31} | {connections:>3} | {result['rps']:8.1f} | {result['p50_ms']:7.2f} "
            f"| {result['p99_ms']:7.2f} | {ratio} | {result['errors']:>6} |")


HEADER = (f"| {'endpoint':<31} | c   |    req/s | p50 ms  | p99 ms  | ratio | errors |\n"
          f"|{'-' * 33}|-----|----------|---------|---------|-------|--------|")


def measure_post(base: str, endpoint: Endpoint, connections: int, args, script: Path,
                 post_rps: dict[str, float]) -> dict:
    """One wrk run of a POST endpoint, every request from a fresh user of its own."""
    # Enough fresh users that no request reuses one (a reused one is refused).
    expected = post_rps.get(endpoint.name, 2000.0) * 1.5 + 200
    tokens_file = Path(os.environ["PLANDEPLOY_HOME"]) / "bench-tokens.txt"
    tokens_file.write_text("\n".join(make_users(int(expected * args.post_seconds))))
    threads = min(args.threads, connections)
    result = wrk(base, endpoint, connections, args.post_seconds, threads, tokens_file, script)
    post_rps[endpoint.name] = max(post_rps.get(endpoint.name, 0), result["rps"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="per GET endpoint")
    parser.add_argument("--post-seconds", type=float, default=4.0, help="per POST endpoint")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=None,
                        help="web worker processes (default: as `plandeploy web` chooses)")
    parser.add_argument("--port", type=int, default=18431)
    parser.add_argument("--only", default="", help="comma-separated endpoint names to keep")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    setup()
    gets, posts = prepare()
    if args.only:
        keep = {name.strip() for name in args.only.split(",")}
        gets = [e for e in gets if e.name in keep or e.name == "bare Django view"]
        posts = [e for e in posts if e.name in keep]
    script = Path(os.environ["PLANDEPLOY_HOME"]) / "bench-post.lua"
    script.write_text(POST_SCRIPT)
    results: dict[tuple[str, int], list[dict]] = {}
    post_rps: dict[str, float] = {}
    print(f"state dir {os.environ['PLANDEPLOY_HOME']}; {args.runs} runs; wrk -t{args.threads}, "
          f"{args.seconds:g} s per GET, {args.post_seconds:g} s per POST; "
          f"{os.cpu_count()} cores shared by server, database and wrk")
    with web_server(args.port, args.workers) as (base, process):
        for endpoint in gets:  # warm every process's caches and connections
            wrk(base, endpoint, 16, 1, args.threads)
        for run in range(1, args.runs + 1):
            print(f"run {run}:\n{HEADER}")
            for connections in CONNECTIONS:
                bare = None
                for endpoint in gets:
                    result = wrk(base, endpoint, connections, args.seconds, args.threads)
                    bare = bare or result["rps"]
                    results.setdefault((endpoint.name, connections), []).append(result)
                    print(row(endpoint.name, connections, result, bare), flush=True)
                for endpoint in posts:
                    result = measure_post(base, endpoint, connections, args, script, post_rps)
                    results.setdefault((endpoint.name, connections), []).append(result)
                    print(row(endpoint.name, connections, result, bare), flush=True)
            for endpoint in posts:
                result = measure_post(base, endpoint, ROUND_TRIP, args, script, post_rps)
                results.setdefault((endpoint.name, ROUND_TRIP), []).append(result)
                print(row(f"{endpoint.name} (round trip)", ROUND_TRIP, result), flush=True)
        memory = web_memory(process)
    print(f"\nmedians of {args.runs} run(s):\n{HEADER}")
    failures = []
    for connections in CONNECTIONS:
        medians = {}
        for endpoint in [*gets, *posts]:
            runs = results[(endpoint.name, connections)]
            medians[endpoint.name] = {key: statistics.median(r[key] for r in runs)
                                      for key in ("rps", "p50_ms", "p99_ms")}
            medians[endpoint.name]["errors"] = sum(r["errors"] for r in runs)
        bare = medians["bare Django view"]["rps"]
        for endpoint in [*gets, *posts]:
            median = medians[endpoint.name]
            print(row(endpoint.name, connections, median, bare))
            if median["errors"]:
                failures.append(f"{endpoint.name} at {connections}: {median['errors']} errors")
            if connections != 16:
                continue
            if endpoint.method == "GET" and endpoint.name != "bare Django view":
                if median["rps"] < 0.5 * bare:
                    failures.append(f"{endpoint.name}: {median['rps'] / bare:.2f} x bare < 0.5")
                if median["p99_ms"] > 25:
                    failures.append(f"{endpoint.name}: p99 {median['p99_ms']:.1f} ms > 25 ms")
    for endpoint in posts:
        runs = results[(endpoint.name, ROUND_TRIP)]
        median = {key: statistics.median(r[key] for r in runs)
                  for key in ("rps", "p50_ms", "p99_ms")}
        median["errors"] = sum(r["errors"] for r in runs)
        print(row(f"{endpoint.name} (round trip)", ROUND_TRIP, median))
        if median["errors"]:
            failures.append(f"{endpoint.name} round trip: {median['errors']} errors")
        if median["p50_ms"] > 10:
            failures.append(f"{endpoint.name}: round-trip p50 {median['p50_ms']:.1f} ms > 10 ms")
    print(f"\nweb processes: {len(memory)}, resident memory "
          + ", ".join(f"{mb:.0f} MB" for mb in memory))
    print("targets: " + ("all hold" if not failures else "not held:\n  " + "\n  ".join(failures)))


if __name__ == "__main__":
    main()
