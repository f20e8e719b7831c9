"""Benchmark of serving designs: the same bare Django view behind each HTTP server.

What it settles: how much of a request's latency, and of its tail, is the server's. The view
is benchmarks/bench_urls.py's (a small JSON object, no database) behind plandeploy's full
middleware, so every row runs the same Python per request; only the serving differs:

- `plandeploy web`, exactly as benchmarks/api.py starts it (uvicorn with httptools and
  uvloop, HTTP on WEB_THREADS threads per process, one process per core): the reference row;
- gunicorn, sync workers (one request at a time per process, no keep-alive);
- gunicorn, gthread workers (4 threads per process);
- granian, WSGI interface.

The other servers are not dependencies of plandeploy: a row is skipped, and says so, when
its server cannot be imported. To try them without touching the environment:

  .venv/bin/pip install --target /tmp/serving-extra gunicorn granian
  SERVING_EXTRA=/tmp/serving-extra .venv/bin/python benchmarks/serving.py

Each server gets every core as processes (as `plandeploy web` does). The load is `wrk` on
loopback at --connections connections (16 by default: the figure benchmarks/api.py's p99
target is about), once per server per run, the servers taking turns, so a busy spell of the
machine lands on all of them. Prints each run, then the medians of req/s, p50 and p99 with
each server's ratio to `plandeploy web`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
os.environ.setdefault("PLANDEPLOY_HOME", "/tmp/pd-bench-serving")
import api  # noqa: E402  (benchmarks/api.py: its server, its wrk parsing)

BARE = api.Endpoint("bare Django view", "/bench/bare")


def _environment(extra: str) -> dict[str, str]:
    paths = [str(BENCH_DIR), str(REPO_ROOT), *([extra] if extra else [])]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "PYTHONPATH": os.pathsep.join(paths),
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "300",
    }


def _importable(module: str, extra: str) -> bool:
    probe = subprocess.run([sys.executable, "-c", f"import {module}"],
                           env=_environment(extra), capture_output=True)
    return probe.returncode == 0


def other_servers(port: int, cores: int) -> dict[str, tuple[str, list[str]]]:
    """The servers besides ours: name -> (module that must import, command)."""
    bind = f"127.0.0.1:{port}"
    gunicorn = [sys.executable, "-m", "gunicorn", "-b", bind, "-w", str(cores),
                "--log-level", "warning"]
    return {
        "gunicorn, sync workers": ("gunicorn", [*gunicorn, "bench_wsgi:application"]),
        "gunicorn, gthread x4": ("gunicorn", [*gunicorn, "-k", "gthread", "--threads", "4",
                                              "bench_wsgi:application"]),
        "granian, WSGI": ("granian", [sys.executable, "-m", "granian", "--interface", "wsgi",
                                      "--workers", str(cores), "--host", "127.0.0.1",
                                      "--port", str(port), "--log-level", "warning",
                                      "bench_wsgi:application"]),
    }


@contextmanager
def other_server(command: list[str], port: int, extra: str):
    import httpx

    process = subprocess.Popen(command, cwd=REPO_ROOT, env=_environment(extra),
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[2]} exited early")
            try:
                if httpx.get(base + BARE.path, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command[2]} did not answer")
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def measure(base: str, args) -> dict:
    api.wrk(base, BARE, args.connections, 1, args.threads)  # warm every process
    return api.wrk(base, BARE, args.connections, args.seconds, args.threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--port", type=int, default=18433)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    extra = os.environ.get("SERVING_EXTRA", "")
    cores = os.cpu_count() or 1
    api.setup()  # the state directory and its database, which our server checks at start
    servers = {}
    for name, (module, command) in other_servers(args.port, cores).items():
        if _importable(module, extra):
            servers[name] = command
        else:
            print(f"skipped {name}: cannot import {module} (see this script's docstring)")
    ours = "plandeploy web"
    results: dict[str, list[dict]] = {}
    print(f"bare view, wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s, "
          f"{args.runs} runs, {cores} cores shared by the server and wrk")
    for run in range(1, args.runs + 1):
        print(f"run {run}:\n{api.HEADER}")
        with api.web_server(args.port, None) as (base, _process):
            result = measure(base, args)
        results.setdefault(ours, []).append(result)
        print(api.row(ours, args.connections, result), flush=True)
        for name, command in servers.items():
            with other_server(command, args.port, extra) as base:
                result = measure(base, args)
            results.setdefault(name, []).append(result)
            print(api.row(name, args.connections, result), flush=True)
    print(f"\nmedians of {args.runs} run(s), ratio = req/s / {ours}'s:\n{api.HEADER}")
    medians = {
        name: {**{key: statistics.median(r[key] for r in runs)
                  for key in ("rps", "p50_ms", "p99_ms")},
               "errors": sum(r["errors"] for r in runs)}
        for name, runs in results.items()
    }
    for name, median in medians.items():
        print(api.row(name, args.connections, median, medians[ours]["rps"]))


if __name__ == "__main__":
    main()
