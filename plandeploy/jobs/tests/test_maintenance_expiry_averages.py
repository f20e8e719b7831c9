"""expire_preflight_results and calculate_average_plan_runtimes on the real database.

Every run is given the same `now` the rows were aged against, so "exactly at the limit"
is exact; the rows are built with the helpers of test_maintenance.
"""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection

from plandeploy.catalog.models import Plan
from plandeploy.jobs.tests.maintenance_rows import SECOND, completed, job, preflight
from plandeploy.maintenance.preflights import PREFLIGHT_EXPIRED_MESSAGE
from plandeploy.maintenance.services import (
    run_calculate_average_plan_runtimes,
    run_expire_preflight_results,
)
from plandeploy.runs.models import PreflightResult, Status
from plandeploy.runs.tests.factories import publish_plan

pytestmark = pytest.mark.django_db

PREFLIGHT_LIFETIME = timedelta(minutes=settings.PREFLIGHT_LIFETIME_MINUTES)



# -- expire_preflight_results ----------------------------------------------------------


def test_finished_preflights_expire_at_their_lifetime_keeping_their_status(plan, now):
    due = preflight(plan, status=Status.COMPLETE, created_at=now - PREFLIGHT_LIFETIME)
    fresh = preflight(plan, status=Status.COMPLETE, created_at=now - PREFLIGHT_LIFETIME + SECOND)
    failed = preflight(plan, status=Status.FAILED, created_at=now - PREFLIGHT_LIFETIME)

    counts = run_expire_preflight_results(now)

    assert counts == {"preflights_canceled": 0, "preflights_invalidated": 2}
    for row in (due, failed):
        row_now = PreflightResult.objects.get(pk=row.pk)
        assert row_now.is_valid is False and row_now.status == row.status
    assert PreflightResult.objects.get(pk=fresh.pk).is_valid is True


def test_expired_preflight_still_started_is_canceled_and_invalid(plan, now):
    running = preflight(plan, created_at=now - PREFLIGHT_LIFETIME)
    young = preflight(plan, created_at=now - PREFLIGHT_LIFETIME + SECOND)

    counts = run_expire_preflight_results(now)

    assert counts == {"preflights_canceled": 1, "preflights_invalidated": 1}
    running.refresh_from_db()
    assert (running.status, running.is_valid) == (Status.CANCELED, False)
    assert running.canceled_at is not None
    assert running.exception == PREFLIGHT_EXPIRED_MESSAGE
    young.refresh_from_db()
    assert (young.status, young.is_valid) == (Status.STARTED, True)


def test_preflight_expiry_batches(plan, now):
    for _ in range(5):
        preflight(plan, status=Status.COMPLETE, created_at=now - PREFLIGHT_LIFETIME)
    counts = run_expire_preflight_results(now, batch_size=2)
    assert counts["preflights_invalidated"] == 5
    assert not PreflightResult.objects.filter(is_valid=True).exists()


# -- calculate_average_plan_runtimes ---------------------------------------------------


def average(plan) -> int | None:
    return Plan.objects.get(pk=plan.pk).calculated_average_duration


def test_average_is_the_median_of_the_most_recent_window(plan, now):
    window = settings.AVERAGE_JOB_WINDOW
    recent = [100 + 2 * i for i in range(window)]  # even steps: the median is whole
    # Two older, very slow runs fall outside the window and must not count.
    completed(plan, [10_000, 10_000] + recent, now)
    counts = run_calculate_average_plan_runtimes()
    assert average(plan) == statistics.median(recent)
    assert counts == {"plans_updated": 1, "plans_cleared": 0}


def test_average_needs_the_minimum_number_of_runs_and_is_cleared_below_it(plan, now):
    """Fewer than the minimum clears an old value instead of showing a stale one."""
    minimum = settings.MINIMUM_JOBS_FOR_AVERAGE
    Plan.objects.filter(pk=plan.pk).update(calculated_average_duration=999)
    completed(plan, [60] * (minimum - 1), now)
    # Runs that did not complete, or were never enqueued, do not count.
    completed(plan, [60], now, status=Status.FAILED)
    job(plan, status=Status.COMPLETE, success_at=now)
    assert run_calculate_average_plan_runtimes() == {"plans_updated": 0, "plans_cleared": 1}
    assert average(plan) is None

    completed(plan, [60], now)
    run_calculate_average_plan_runtimes()
    assert average(plan) == 60


def test_plans_whose_average_does_not_change_are_not_written(plan, now):
    other = publish_plan(steps=[], preflight_checks=[])
    completed(plan, [30] * settings.MINIMUM_JOBS_FOR_AVERAGE, now)
    run_calculate_average_plan_runtimes()

    def row_versions():
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, xmin::text FROM catalog_plan ORDER BY id")
            return cursor.fetchall()

    before = row_versions()
    assert run_calculate_average_plan_runtimes() == {"plans_updated": 0, "plans_cleared": 0}
    assert row_versions() == before
    assert average(plan) == 30 and average(other) is None
