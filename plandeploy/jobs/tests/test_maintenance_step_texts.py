"""cleanup_user_data clears old per-step messages and logs; statuses and counts stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from plandeploy.jobs.tests.maintenance_rows import SECOND, job, preflight
from plandeploy.maintenance.services import run_cleanup_user_data
from plandeploy.runs.models import Status
from plandeploy.runs.tests.factories import publish_plan

pytestmark = pytest.mark.django_db

EXCEPTION_RETENTION = timedelta(days=settings.EXCEPTION_RETENTION_DAYS)
TEXT = {"message": "User admin@acme.example lacks Acme__c", "logs": "<span>00D5g0000012345</span>"}


def step_results() -> dict:
    return {
        "s1": [{"status": "ok", **TEXT}],
        "s2": [{"status": "error", "message": TEXT["message"]}, {"status": "warn", "logs": "x"}],
        "s3": [{"status": "hide"}],
        "plan": [{"status": "warn", "message": None}],
    }


STRIPPED = {
    "s1": [{"status": "ok"}],
    "s2": [{"status": "error"}, {"status": "warn"}],
    "s3": [{"status": "hide"}],
    "plan": [{"status": "warn"}],
}


def statuses(results: dict) -> list[tuple[str, str]]:
    return sorted((key, entry["status"]) for key, entries in results.items() for entry in entries)


@pytest.mark.parametrize("make", [job, preflight])
def test_old_step_texts_are_cleared_and_statuses_kept(make):
    now = timezone.now()
    plan = publish_plan(steps=[], preflight_checks=[])
    old = make(plan, status=Status.COMPLETE, results=step_results(),
               created_at=now - EXCEPTION_RETENTION)
    bare = make(plan, status=Status.COMPLETE, results={"s1": [{"status": "ok"}]},
                created_at=now - EXCEPTION_RETENTION)
    young = make(plan, status=Status.COMPLETE, results=step_results(),
                 created_at=now - EXCEPTION_RETENTION + SECOND)
    statuses_before = statuses(old.results)

    counts = run_cleanup_user_data(now)

    label = "job" if make is job else "preflight"
    assert counts[f"{label}_step_texts_cleared"] == 1  # the bare one had nothing to clear
    old.refresh_from_db()
    assert old.results == STRIPPED
    assert statuses(old.results) == statuses_before  # error and warning counts unchanged
    assert old.status == Status.COMPLETE
    bare.refresh_from_db()
    assert bare.results == {"s1": [{"status": "ok"}]}
    young.refresh_from_db()
    assert young.results == step_results()
    assert run_cleanup_user_data(now)[f"{label}_step_texts_cleared"] == 0


def test_a_backlog_is_cleared_in_batches_in_one_run():
    now = timezone.now()
    plan = publish_plan(steps=[], preflight_checks=[])
    rows = [job(plan, status=Status.FAILED, results=step_results(),
                created_at=now - EXCEPTION_RETENTION) for _ in range(5)]
    with CaptureQueriesContext(connection) as queries:
        counts = run_cleanup_user_data(now, batch_size=2)
    assert counts["job_step_texts_cleared"] == 5
    # Set-based: one UPDATE per batch of 2 (2 + 2 + 1), never one per row.
    updates = [q["sql"] for q in queries.captured_queries
               if q["sql"].lstrip().startswith("UPDATE runs_job SET results")]
    assert len(updates) == 3
    for row in rows:
        row.refresh_from_db()
        assert row.results == STRIPPED


def test_the_clearing_query_uses_its_partial_index():
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM runs_job WHERE jsonb_typeof(results) = 'object' AND "
            "results @? '$.*[*] ? (exists(@.message) || exists(@.logs))' "
            "AND created_at <= now() ORDER BY created_at LIMIT 10")
        plan_text = "\n".join(row[0] for row in cursor.fetchall())
    assert "job_old_step_text" in plan_text, plan_text
