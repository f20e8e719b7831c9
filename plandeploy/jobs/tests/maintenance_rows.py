"""Rows for the maintenance tests, with any timestamps (auto_now_add ones set after the insert)."""

from __future__ import annotations

from datetime import timedelta

from plandeploy.runs.models import Job, PreflightResult, Status
from plandeploy.runs.tests.factories import org_id

SECOND = timedelta(seconds=1)


def _aged(model, plan, fields: dict):
    created_at = fields.pop("created_at", None)
    row = model.objects.create(plan=plan, org_id=fields.pop("org_id", org_id()), **fields)
    if created_at is not None:
        model.objects.filter(pk=row.pk).update(created_at=created_at)
    return model.objects.get(pk=row.pk)


def job(plan, **fields) -> Job:
    return _aged(Job, plan, fields)


def preflight(plan, **fields) -> PreflightResult:
    return _aged(PreflightResult, plan, fields)


def completed(plan, durations: list[int], now, **fields) -> None:
    """Complete jobs, the most recent last, each `duration` seconds from queue to success."""
    for index, seconds in enumerate(durations):
        enqueued = now - timedelta(days=len(durations) - index)
        job(plan, status=fields.get("status", Status.COMPLETE), enqueued_at=enqueued,
            success_at=enqueued + timedelta(seconds=seconds))
