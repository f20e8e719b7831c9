"""LOG_FORMAT=json writes one JSON object per line; the access log leaves query strings out."""

from __future__ import annotations

import json
import subprocess
import sys

from plandeploy.testing.processes import REPO_ROOT, subprocess_env

# Logs one record inside a job's context and serves one request with a secret in its query.
SCRIPT = """
import logging, django
django.setup()
from django.test import Client
from plandeploy import logs
with logs.bound(job_id=42, task="run_flows_job"):
    logging.getLogger("plandeploy.test").warning("inside a job")
response = Client().get("/healthz?token=very-secret-value", HTTP_X_REQUEST_ID="req-123")
print(response["X-Request-ID"])
"""


def run_logging(**env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=subprocess_env(DJANGO_SETTINGS_MODULE="plandeploy.settings", LOG_LEVEL="INFO", **env),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_json_lines_carry_level_logger_time_and_the_job_or_request():
    result = run_logging(LOG_FORMAT="json")
    assert result.stdout.strip() == "req-123"
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    job = next(e for e in entries if e["logger"] == "plandeploy.test")
    assert job["level"] == "WARNING" and job["message"] == "inside a job"
    assert job["job_id"] == 42 and job["task"] == "run_flows_job"
    assert job["time"].endswith("+00:00")
    access = next(e for e in entries if e["logger"] == "plandeploy.access")
    assert access["request_id"] == "req-123"
    assert access["path"] == "/healthz" and access["status"] == 200
    assert access["message"].startswith("GET /healthz 200 ")
    assert "very-secret-value" not in result.stderr


def test_text_access_log_is_on_by_default_without_the_query_string():
    result = run_logging()
    lines = result.stderr.splitlines()
    assert any(" INFO plandeploy.access: GET /healthz 200 " in line for line in lines), lines
    assert any(" WARNING plandeploy.test: inside a job" in line for line in lines)
    assert "very-secret-value" not in result.stderr
    assert "token=" not in result.stderr


def test_access_log_can_be_turned_off():
    result = run_logging(ACCESS_LOG="false")
    assert "plandeploy.access" not in result.stderr
    assert result.stdout.strip() == "req-123"
