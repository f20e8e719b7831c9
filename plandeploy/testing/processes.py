"""Run real workers and web servers against the test database, in-process or as subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import connection

from plandeploy import queue
from plandeploy.schedules import DEFAULT_SCHEDULES

REPO_ROOT = Path(__file__).resolve().parents[2]


# Worker timings short enough for cancel, shutdown and crash behaviours to show in seconds.
FAST_WORKER_TIMINGS = {
    "CANCEL_GRACE_SECONDS": "5",
    "SHUTDOWN_GRACE_SECONDS": "3",
    "WORKER_HEARTBEAT_SECONDS": "1",
    "STALLED_WORKER_SECONDS": "3",
}


def only_schedule(name: str, cron: str = "* * * * * */2") -> str:
    """A CRON_SCHEDULE value that runs only the named schedule, every two seconds by default,
    so a worker test sees that job's ticks fast and no other scheduled job interferes."""
    return json.dumps({schedule: (cron if schedule == name else None)
                       for schedule in DEFAULT_SCHEDULES})


def test_database_url() -> str:
    """The URL of the database the tests use (the test database, not the main one)."""
    params = connection.settings_dict
    host = params["HOST"] or "localhost"
    port = params["PORT"] or "5432"
    user = params["USER"] or ""
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    if host.startswith("/"):
        return f"postgresql://{user}{password}@/{params['NAME']}?host={host}&port={port}"
    return f"postgresql://{user}{password}@{host}:{port}/{params['NAME']}"


def subprocess_env(**overrides: str) -> dict[str, str]:
    """Environment for a child process that must see the test database and our keys."""
    env = dict(os.environ)
    # The browser tests' in-process server needs it; a real process must run without it.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(
        DATABASE_URL=test_database_url(),
        SECRET_KEY=settings.SECRET_KEY,
        DB_ENCRYPTION_KEY=settings.DB_ENCRYPTION_KEY,
        PLANDEPLOY_HOME=str(settings.PLANDEPLOY_HOME),
        LOCAL_ORGS_ROOT=str(settings.LOCAL_ORGS_ROOT),
        REPO_CACHE_ROOT=str(settings.REPO_CACHE_ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_worker_until_idle(queues: tuple[str, ...] = ("default", "short"), concurrency: int = 1):
    """Run an in-process worker until no job is left to run on `queues`."""
    queue.run_worker(queues, concurrency, wait=False, install_signal_handlers=False)


@contextlib.contextmanager
def worker_process(
    queues: str = "default,short", concurrency: int = 2, output: IO | None = None, **env: str
) -> Iterator[subprocess.Popen]:
    """A `plandeploy worker` subprocess; ready once its heartbeat row exists.

    `output`, a file, receives its stdout and stderr (by default they are the test's).
    """
    before = queue.worker_ids()
    process = subprocess.Popen(
        [sys.executable, "-m", "plandeploy.cli", "worker", "--queues", queues,
         "--concurrency", str(concurrency)],
        env=subprocess_env(**env),
        cwd=REPO_ROOT,
        start_new_session=True,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )
    try:
        _wait_for(lambda: queue.worker_ids() - before, process, "the worker to register")
        yield process
    finally:
        stop_process(process)


@contextlib.contextmanager
def web_process(port: int | None = None, **env: str) -> Iterator[str]:
    """A `plandeploy web` subprocess on `port` (default: a free one); yields its base URL."""
    import httpx

    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "plandeploy.cli", "web", "--port", str(port)],
        env=subprocess_env(**env),
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{base_url}/healthz", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    try:
        _wait_for(answers, process, "the web server to answer")
        yield base_url
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} while waiting for {what}")
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def wait_until(condition, timeout: float = 30, interval: float = 0.05, message: str = "condition"):
    """Poll `condition` until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {message}")
