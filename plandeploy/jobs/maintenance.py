"""The scheduled maintenance tasks; their rules are in plandeploy.maintenance."""

from __future__ import annotations

from plandeploy import taskdefs
from plandeploy.maintenance.batches import Counts
from plandeploy.maintenance.services import (
    run_calculate_average_plan_runtimes,
    run_cleanup_user_data,
    run_expire_preflight_results,
)

# Schedules come from settings.SCHEDULES / CRON_SCHEDULE; procrastinate passes `timestamp`.


@taskdefs.cleanup_user_data.implement(schedule="cleanup_user_data")
def cleanup_user_data(timestamp: int | None = None) -> Counts | None:
    return run_cleanup_user_data()


@taskdefs.expire_preflight_results.implement(schedule="expire_preflight_results")
def expire_preflight_results(timestamp: int | None = None) -> Counts | None:
    return run_expire_preflight_results()


@taskdefs.calculate_average_plan_runtimes.implement(schedule="calculate_average_plan_runtimes")
def calculate_average_plan_runtimes(timestamp: int | None = None) -> Counts | None:
    return run_calculate_average_plan_runtimes()
