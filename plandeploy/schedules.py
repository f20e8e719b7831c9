"""Named cron schedules for the periodic jobs, with CRON_SCHEDULE overrides applied."""

from __future__ import annotations

import json
from collections.abc import Mapping

from croniter import croniter

# Every periodic job runs under one of these names; CRON_SCHEDULE refers to them.
DEFAULT_SCHEDULES: dict[str, str] = {
    "cleanup_user_data": "* * * * *",
    "expire_preflight_results": "* * * * *",
    "calculate_average_plan_runtimes": "0 0 * * *",
    "enqueue_jobs": "* * * * *",
    "fail_stalled_jobs": "* * * * *",
    "expire_scratch_orgs": "*/10 * * * *",
}


class ScheduleError(ValueError):
    """CRON_SCHEDULE is not usable; the message names what is wrong."""


def resolve_schedules(
    raw_override: str | None, defaults: Mapping[str, str] = DEFAULT_SCHEDULES
) -> dict[str, str | None]:
    """Merge the JSON override into the defaults; `None` means the schedule is disabled."""
    schedules: dict[str, str | None] = dict(defaults)
    if not raw_override or not raw_override.strip():
        return schedules
    try:
        override = json.loads(raw_override)
    except json.JSONDecodeError as exc:
        raise ScheduleError(f"CRON_SCHEDULE is not valid JSON: {exc}") from exc
    if not isinstance(override, dict):
        raise ScheduleError(
            "CRON_SCHEDULE must be a JSON object mapping a schedule name to a cron string or null"
        )
    for name, cron in override.items():
        if name not in defaults:
            known = ", ".join(sorted(defaults))
            raise ScheduleError(
                f"CRON_SCHEDULE names an unknown schedule {name!r} (known: {known})"
            )
        if cron is not None and (not isinstance(cron, str) or not croniter.is_valid(cron)):
            raise ScheduleError(f"CRON_SCHEDULE[{name!r}] is not a valid cron string: {cron!r}")
        schedules[name] = cron
    return schedules
