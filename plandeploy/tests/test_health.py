"""GET /healthz answers while the process lives; GET /readyz checks database, schema, worker."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from plandeploy.testing.processes import REPO_ROOT, free_port, subprocess_env, worker_process
from plandeploy.tests.queue_rows import forget_workers

pytestmark = pytest.mark.django_db(transaction=True)


def test_readyz_without_a_worker_is_503_naming_it(client, settings):
    forget_workers()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert list(body["failed"]) == ["worker"]
    assert body["failed"]["worker"] == "no worker heartbeat"
    assert client.get("/healthz").status_code == 200
    settings.READY_REQUIRES_WORKER = False
    assert client.get("/readyz").status_code == 200


def test_readyz_reports_database_and_worker_heartbeat(client):
    with worker_process(queues="short", concurrency=1):
        response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["database"] == "ok"
    assert body["failed"] == {}
    assert body["pending_migrations"] == 0
    assert body["workers"] >= 1
    assert 0 <= body["newest_worker_heartbeat_age_seconds"] < 30


@pytest.mark.django_db  # in a transaction rolled back afterwards: the recorder row comes back
def test_readyz_with_a_migration_not_applied_is_503_naming_it(client, settings):
    settings.READY_REQUIRES_WORKER = False
    app, name = sorted(MigrationExecutor(connection).loader.graph.leaf_nodes())[0]
    MigrationRecorder(connection).migration_qs.filter(app=app, name=name).delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert list(body["failed"]) == ["migrations"]
    assert f"{app}.{name}" in body["failed"]["migrations"]
    assert body["pending_migrations"] == 1


def test_healthz_answers_and_readyz_is_503_when_the_database_is_unreachable():
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "h = Client().get('/healthz'); r = Client().get('/readyz');"
        "print(h.status_code, h.json()['status'], r.status_code, r.json()['database'],"
        " *r.json()['failed'])"
    )
    env = subprocess_env(
        DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/nothing",
        DJANGO_SETTINGS_MODULE="plandeploy.settings",
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["200", "alive", "503", "unreachable", "database"], (
        result.stderr
    )
