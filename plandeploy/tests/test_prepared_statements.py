"""A query a connection runs again is prepared on the server (DATABASE_PREPARE_THRESHOLD),
and preparing can be turned off for a pooler that cannot carry it (real PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection

from plandeploy.testing.processes import REPO_ROOT, subprocess_env

pytestmark = pytest.mark.django_db

PROBE = "SELECT %s::int + 41 AS prepared_probe"
COUNT_PREPARED = ("SELECT count(*) FROM pg_prepared_statements"
                  " WHERE statement LIKE '%%prepared_probe%%'")


def _prepared_after_three_runs() -> int:
    with connection.cursor() as cursor:
        for value in (1, 2, 3):
            cursor.execute(PROBE, [value])
            assert cursor.fetchone() == (value + 41,)
        cursor.execute(COUNT_PREPARED)
        return cursor.fetchone()[0]


def test_a_query_run_again_on_a_connection_is_prepared():
    assert _prepared_after_three_runs() == 1


def test_preparing_can_be_turned_off():
    script = (
        "from plandeploy.tests.test_prepared_statements import _prepared_after_three_runs;"
        "print('prepared', _prepared_after_three_runs())"
    )
    result = subprocess.run(
        [sys.executable, "-m", "plandeploy.cli", "manage", "shell", "-c", script],
        env=subprocess_env(DATABASE_PREPARE_THRESHOLD="0"), cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "prepared 0" in result.stdout, result.stdout + result.stderr
