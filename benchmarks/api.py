"""Benchmark of the public API: GET /api/plans/<id>/ and POST /api/plans/<id>/preflight/.

A real `plandeploy web` subprocess (uvicorn, as `plandeploy web` runs it) serves a database
this script prepares in its own state directory (embedded PostgreSQL). A second process
on loopback generates the load: an asyncio + httpx closed loop with C connections, each
run bounded by a duration and a request count. Every POST comes from its own user (an API
token per user, each with a connected local org), because one org may run one preflight at
a time; the preflights queue up (no worker runs), which is the cost the endpoint pays.

  .venv/bin/python benchmarks/api.py                       # 3 runs x 8 s per endpoint
  .venv/bin/python benchmarks/api.py --runs 1 --seconds 3  # a quick look

Prints req/s, p50 and p99 latency per run, then the medians of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("PLANDEPLOY_HOME", "/tmp/pd-bench-api")
from plandeploy.testing import lift_rate_limits  # noqa: E402

lift_rate_limits()  # one loopback client is one address
os.environ.setdefault("LOG_LEVEL", "WARNING")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


# -- the load generator (runs in its own process) --------------------------------------------


async def _load(url: str, method: str, tokens: list[str], concurrency: int, seconds: float,
                max_requests: int) -> dict:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    token_iter = iter(tokens)
    deadline = time.perf_counter() + seconds
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal sent
            while time.perf_counter() < deadline and sent < max_requests:
                headers = {}
                if tokens:
                    token = next(token_iter, None)
                    if token is None:
                        return
                    headers["Authorization"] = f"token {token}"
                sent += 1
                start = time.perf_counter()
                response = await client.request(method, url, headers=headers)
                latencies.append(time.perf_counter() - start)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "elapsed": elapsed,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": statuses,
    }


def load_main(args: argparse.Namespace) -> None:
    tokens = Path(args.tokens).read_text().split() if args.tokens else []
    result = asyncio.run(_load(args.url, args.method, tokens, args.concurrency, args.seconds,
                               args.max_requests))
    print(json.dumps(result))


# -- set-up of the measured service -----------------------------------------------------------


def setup() -> None:
    from plandeploy import bootstrap

    bootstrap.start(progress=False)


def prepare_plan():
    from plandeploy.catalog.tests import factories

    return factories.plan(steps=5, checks=True, calculated_average_duration=90)


def make_users(count: int) -> list[str]:
    """`count` users with a connected local org and an API token each; returns the keys."""
    from django.db import transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from plandeploy.accounts.models import FullOrgType, OrgConnection, User
    from plandeploy.accounts.tokens import digest

    tag = secrets.token_hex(4)
    now = timezone.now()
    with transaction.atomic():
        users = User.objects.bulk_create(
            User(username=f"bench-{tag}-{n}", password="!", last_login=now) for n in range(count)
        )
        OrgConnection.objects.bulk_create(
            OrgConnection(user=user, org_id=f"00D{tag}{n:07d}", org_name="bench",
                          full_org_type=FullOrgType.DEVELOPER, access_token="x",
                          token_created_at=now)
            for n, user in enumerate(users)
        )
        keys = [secrets.token_hex(20) for _ in users]
        # Stored as their digests, as issue_token stores them; the clients hold the keys.
        Token.objects.bulk_create(
            Token(user=user, key=digest(key)) for user, key in zip(users, keys, strict=True)
        )
    return keys


@contextmanager
def web_server(port: int, workers: int):
    import httpx

    process = subprocess.Popen(
        [sys.executable, "-m", "plandeploy.cli", "web", "--port", str(port),
         "--workers", str(workers)],
        cwd=REPO_ROOT, env={**os.environ, "LOG_LEVEL": "WARNING"}, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("plandeploy web exited early")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("plandeploy web did not answer")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_load(url: str, method: str, args: argparse.Namespace, tokens_file: str | None) -> dict:
    command = [sys.executable, __file__, "--load", "--url", url, "--method", method,
               "--concurrency", str(args.concurrency), "--seconds", str(args.seconds),
               "--max-requests", str(args.max_requests)]
    if tokens_file:
        command += ["--tokens", tokens_file]
    output = subprocess.run(command, capture_output=True, text=True, check=True,
                            timeout=args.seconds + 120)
    return json.loads(output.stdout.strip().splitlines()[-1])


def line(label: str, result: dict) -> str:
    return (f"{label:<34} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:7.1f} ms  "
            f"p99 {result['p99_ms']:7.1f} ms  (n={result['requests']}, "
            f"statuses={result['statuses']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="GET", help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--port", type=int, default=18431)
    args = parser.parse_args()
    if args.load:
        load_main(args)
        return

    setup()
    plan = prepare_plan()
    print(f"state dir {os.environ['PLANDEPLOY_HOME']}; plan {plan.hashid} (5 steps); "
          f"{args.runs} runs x {args.seconds:g} s, {args.concurrency} connections, "
          f"{args.workers} uvicorn worker(s), loader in a separate process; "
          f"{os.cpu_count()} cores shared by server, database and loader")
    results: dict[str, list[dict]] = {"GET": [], "POST": []}
    # Enough users that every POST of a run is some org's first preflight.
    per_run = int(args.seconds * 1500) + 100
    with web_server(args.port, args.workers) as base:
        plan_url = f"{base}/api/plans/{plan.hashid}/"
        run_load(plan_url, "GET", argparse.Namespace(**{**vars(args), "seconds": 1.0}), None)
        for run in range(1, args.runs + 1):
            get = run_load(plan_url, "GET", args, None)
            results["GET"].append(get)
            print(line(f"run {run}: GET  /api/plans/<id>/", get))
            tokens_path = Path(os.environ["PLANDEPLOY_HOME"]) / f"bench-tokens-{run}.txt"
            tokens_path.write_text("\n".join(make_users(min(per_run, args.max_requests))))
            post = run_load(f"{plan_url}preflight/", "POST", args, str(tokens_path))
            tokens_path.unlink()
            results["POST"].append(post)
            print(line(f"run {run}: POST /api/plans/<id>/preflight/", post))
    print("medians of the runs:")
    for method, label in (("GET", "GET  /api/plans/<id>/"),
                          ("POST", "POST /api/plans/<id>/preflight/")):
        runs = results[method]
        print(f"  {label:<32} {statistics.median(r['rps'] for r in runs):8.1f} req/s  "
              f"p50 {statistics.median(r['p50_ms'] for r in runs):7.1f} ms  "
              f"p99 {statistics.median(r['p99_ms'] for r in runs):7.1f} ms")


if __name__ == "__main__":
    main()
