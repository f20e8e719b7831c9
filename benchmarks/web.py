"""Benchmark of the pages: the plan page and the job page next to /healthz, under `wrk`.

A real `plandeploy web` subprocess serves a database this script prepares in its own state
directory (embedded PostgreSQL): a 5-step plan and a finished 5-step job with step logs,
viewed by their signed-in owner (a session cookie), as a person would. `wrk` (Debian's) on
loopback generates the load; /healthz is measured on the same server in the same run, so
the page/healthz ratio is the figure that survives a busy machine.

  .venv/bin/python benchmarks/web.py                       # 3 runs x 8 s per URL
  .venv/bin/python benchmarks/web.py --runs 1 --seconds 3  # a quick look

Prints req/s, p50 and p99 per URL and run, then the medians and the ratios to /healthz.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
os.environ.setdefault("PLANDEPLOY_HOME", "/tmp/pd-bench-web")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from api import setup, web_server  # noqa: E402  (benchmarks/api.py: server start-up)

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def prepare() -> tuple[str, str, str]:
    """A plan page URL, a job page URL and the owner's session cookie."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from plandeploy.accounts.services import connect_local_org
    from plandeploy.catalog.models import PlanSlug, ProductSlug
    from plandeploy.catalog.tests import factories
    from plandeploy.runs.models import Job, Status
    from plandeploy.web import lookups

    plan = factories.plan(steps=5, checks=True, calculated_average_duration=90)
    if not plan.version.product.slug:
        ProductSlug.objects.create(parent=plan.version.product, slug=f"p-{plan.pk}")
    if not plan.slug:
        PlanSlug.objects.create(parent=plan.plan_template, slug="install")
    user = factories.user(connected=False)
    connect_local_org(user, "Benchmark org")
    steps = list(plan.steps.all())
    job = Job.objects.create(
        user=user, plan=plan, org_id=user.org_id, status=Status.COMPLETE,
        results={step.hashid: [{"status": "ok", "logs": "line\n" * 40}] for step in steps},
    )
    job.steps.set(steps)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    plan = type(plan).objects.get(pk=plan.pk)
    return (lookups.plan_url(plan), lookups.plan_url(plan, "job", job=job.hashid),
            f"sessionid={session.session_key}")


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * _UNITS[unit]


def wrk(url: str, cookie: str, args: argparse.Namespace) -> dict:
    output = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.concurrency}", f"-d{args.seconds}s",
         "--latency", "-H", f"Cookie: {cookie}", url],
        capture_output=True, text=True, check=True, timeout=args.seconds + 60,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.MULTILINE))
    if set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _ms(percentiles["50"]),
        "p99_ms": _ms(percentiles["99"]),
        "errors": int(errors.group(1)) if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--port", type=int, default=18433)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    setup()
    plan_path, job_path, cookie = prepare()
    print(f"state dir {os.environ['PLANDEPLOY_HOME']}; {args.runs} runs x {args.seconds} s per "
          f"URL, wrk -t{args.threads} -c{args.concurrency}, {args.workers} uvicorn worker(s); "
          f"{os.cpu_count()} cores shared by server, database and wrk")
    targets = {"/healthz": "/healthz", "plan page": plan_path, "job page": job_path}
    results: dict[str, list[dict]] = {name: [] for name in targets}
    with web_server(args.port, args.workers) as base:
        for run in range(1, args.runs + 1):
            for name, path in targets.items():
                result = wrk(base + path, cookie, args)
                results[name].append(result)
                print(f"run {run}: {name:<10} {result['rps']:8.1f} req/s  "
                      f"p50 {result['p50_ms']:7.1f} ms  p99 {result['p99_ms']:7.1f} ms  "
                      f"non-2xx {result['errors']}")
    medians = {name: {key: statistics.median(r[key] for r in runs)
                      for key in ("rps", "p50_ms", "p99_ms")}
               for name, runs in results.items()}
    print("medians of the runs:")
    for name, median in medians.items():
        ratio = median["rps"] / medians["/healthz"]["rps"]
        print(f"  {name:<10} {median['rps']:8.1f} req/s  p50 {median['p50_ms']:7.1f} ms  "
              f"p99 {median['p99_ms']:7.1f} ms  ({ratio:.2f} x /healthz req/s)")


if __name__ == "__main__":
    main()
