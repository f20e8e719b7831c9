"""The `plandeploy` command: start-up errors are clear and leave nothing running."""

from __future__ import annotations

import socket
import subprocess
import sys

import psutil

from plandeploy.testing.processes import REPO_ROOT, free_port


def _postgres_processes_for(home) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "postgres" and str(home) in cmdline:
            found.append(process)
    return found


def _run_cli(*args, env_extra=None, timeout=120):
    import os

    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "plandeploy.cli", *args],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
    )


def test_up_on_a_port_in_use_exits_non_zero_and_leaves_no_postgres(tmp_path):
    with socket.socket() as occupier:
        occupier.bind(("127.0.0.1", 0))
        occupier.listen()
        port = occupier.getsockname()[1]
        result = _run_cli("up", "--port", str(port), env_extra={"PLANDEPLOY_HOME": str(tmp_path)})
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stdout
    assert _postgres_processes_for(tmp_path) == []


def test_unreachable_database_url_names_host_and_port(tmp_path):
    port = free_port()
    result = _run_cli(
        "manage", "check",
        env_extra={
            "DATABASE_URL": f"postgresql://user:secretpw@127.0.0.1:{port}/nothing",
            "SECRET_KEY": "x" * 50,
            "DB_ENCRYPTION_KEY": "3Jm0Y8bZ5p2xQG0b8hFq3v1pVxk0o9e8b7c6d5e4f3g=",
            "PLANDEPLOY_HOME": str(tmp_path),
            "DATABASE_WAIT_SECONDS": "1",
        },
    )
    assert result.returncode == 2
    # Nothing listens there: it is waited for (a server may be restarting), then reported.
    assert f"waiting up to 1 s for the database at 127.0.0.1:{port}" in result.stdout
    assert f"cannot reach the database at 127.0.0.1:{port}" in result.stdout
    assert "secretpw" not in result.stdout + result.stderr


def test_shared_deployment_requires_shared_keys(tmp_path):
    result = _run_cli(
        "manage", "check",
        env_extra={"DATABASE_URL": f"postgresql://u@127.0.0.1:{free_port()}/x",
                   "PLANDEPLOY_HOME": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DATABASE_URL is set" in result.stdout + result.stderr


def _wait_healthy(port: int, timeout: float = 90) -> dict:
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()
            if body.get("workers"):
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("plandeploy up did not become healthy")


def _up(home, port) -> subprocess.Popen:
    import os

    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["PLANDEPLOY_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "plandeploy.cli", "up", "--port", str(port)],
        env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_up_serves_stops_cleanly_on_sigint_and_reuses_its_data(tmp_path):
    import signal

    port = free_port()
    first = _up(tmp_path, port)
    assert _wait_healthy(port)["database"] == "ok"
    first.send_signal(signal.SIGINT)
    output = first.communicate(timeout=90)[0]
    assert first.returncode == 0, output
    assert "Initialising the embedded PostgreSQL" in output
    assert "applying" in output and "migrations" in output
    assert "plandeploy manage createsuperuser" in output
    assert _postgres_processes_for(tmp_path) == []

    second = _up(tmp_path, port)
    _wait_healthy(port)
    second.send_signal(signal.SIGTERM)
    output = second.communicate(timeout=90)[0]
    assert second.returncode == 0, output
    assert "Initialising" not in output and "applying" not in output
    assert _postgres_processes_for(tmp_path) == []
