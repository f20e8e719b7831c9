"""LOG_FORMAT=json writes one JSON object per line (a worker's with job id, task and org hash);
the access log leaves query strings out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.conf import settings

from plandeploy import logs
from plandeploy.runs.models import Job
from plandeploy.runs.services import create_job
from plandeploy.runs.tests.factories import local_user, publish_plan, step_data
from plandeploy.testing.processes import REPO_ROOT, subprocess_env, wait_until, worker_process

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


@pytest.mark.django_db(transaction=True)
def test_a_real_workers_json_lines_carry_job_task_and_org_hash_and_no_secret(tmp_path):
    user = local_user()
    connection_row = user.org_connection
    plan = publish_plan(steps=[step_data("1", "tasks.wait.Wait", seconds=0.1)])
    job = create_job(plan=plan, steps=plan.steps.all(), user=user)
    output = tmp_path / "worker.log"
    with output.open("w") as log_file, worker_process(
        concurrency=1, output=log_file, LOG_FORMAT="json", LOG_LEVEL="INFO",
        PROCRASTINATE_LOG_LEVEL="INFO",
        CRON_SCHEDULE=json.dumps(dict.fromkeys(settings.SCHEDULES)),
    ):
        wait_until(lambda: Job.objects.get(pk=job.pk).status != "started", timeout=90,
                   message="the job to end")
    assert Job.objects.get(pk=job.pk).status == "complete"
    text = output.read_text()
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert entries and len(entries) == len([ln for ln in text.splitlines() if ln.strip()]), text
    queue_job = Job.objects.get(pk=job.pk).job_id
    run_lines = [e for e in entries if e.get("task") == "run_flows_job"]
    ended = next(e for e in run_lines if e["message"].endswith(" complete")
                 and e["logger"].startswith("plandeploy."))
    assert ended["job_id"] == queue_job
    assert ended["org_id_hash"] == logs.org_id_hash(connection_row.org_id)
    # procrastinate's own lines about the same queue job carry the same id and task.
    assert any(e["logger"].startswith("procrastinate") and e["job_id"] == ended["job_id"]
               for e in run_lines)
    enqueuer = [e for e in entries if e.get("task") == "enqueuer_job"]
    assert enqueuer and all(e["job_id"] for e in enqueuer)
    for secret in (connection_row.access_token, connection_row.org_id,
                   connection_row.org_id[:15], settings.SECRET_KEY, settings.DB_ENCRYPTION_KEY):
        assert secret not in text
