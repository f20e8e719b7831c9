"""The maintenance runs by job name: each takes its run lock, applies its rules, logs counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

from plandeploy.maintenance.averages import update_average_durations
from plandeploy.maintenance.batches import BATCH_SIZE, Counts, batched, run_lock
from plandeploy.maintenance.cleanup import cleanup_steps
from plandeploy.maintenance.preflights import (
    cancel_expired_running_preflights,
    invalidate_expired_preflights,
)


def run_cleanup_user_data(
    now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> Counts | None:
    """Every cleanup rule, in order. Returns rows changed per sub-step (None: another run
    holds the lock)."""
    now = now or timezone.now()
    with run_lock("cleanup_user_data") as counts:
        if counts is None:
            return None
        for label, step in cleanup_steps(now, batch_size).items():
            counts[label] = step()
    return counts


def run_expire_preflight_results(
    now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> Counts | None:
    now = now or timezone.now()
    with run_lock("expire_preflight_results") as counts:
        if counts is None:
            return None
        counts["preflights_canceled"] = batched(
            lambda: len(cancel_expired_running_preflights(now, batch_size)), batch_size
        )
        counts["preflights_invalidated"] = counts["preflights_canceled"] + batched(
            lambda: len(invalidate_expired_preflights(now, batch_size)), batch_size
        )
    return counts


def run_calculate_average_plan_runtimes() -> Counts | None:
    with run_lock("calculate_average_plan_runtimes") as counts:
        if counts is None:
            return None
        counts.update(update_average_durations())
    return counts


RUNS: dict[str, Callable[[], Counts | None]] = {
    "cleanup_user_data": run_cleanup_user_data,
    "expire_preflight_results": run_expire_preflight_results,
    "calculate_average_plan_runtimes": run_calculate_average_plan_runtimes,
}
