"""GET /healthz reports the database and the newest worker heartbeat."""

from __future__ import annotations

import subprocess
import sys

import pytest

from plandeploy.testing.processes import REPO_ROOT, free_port, subprocess_env, worker_process

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_reports_database_and_worker_heartbeat(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    with worker_process(queues="short", concurrency=1):
        body = client.get("/healthz").json()
    assert body["workers"] >= 1
    assert 0 <= body["newest_worker_heartbeat_age_seconds"] < 30


def test_healthz_is_503_when_the_database_is_unreachable():
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz'); print(r.status_code, r.json()['database'])"
    )
    env = subprocess_env(
        DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/nothing",
        DJANGO_SETTINGS_MODULE="plandeploy.settings",
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["503", "unreachable"], result.stderr
