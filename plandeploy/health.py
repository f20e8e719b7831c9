"""Health endpoints: /healthz says the process answers, /readyz whether it can serve and run."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from plandeploy import queue


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: answering at all is the whole check, so a database outage restarts nothing."""
    return JsonResponse({"status": "alive"})


def pending_migrations(targets: Iterable[tuple[str, str | None]] | None = None) -> list[str]:
    """Names of the migrations between the database and `targets` (default: every app's
    latest migration); empty when the schema is the one the code expects."""
    executor = MigrationExecutor(connection)
    if targets is None:
        targets = executor.loader.graph.leaf_nodes()
    plan = executor.migration_plan(list(targets))
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def readiness(targets: Iterable[tuple[str, str | None]] | None = None) -> dict:
    """The facts /readyz reports, with `failed`: each failed check's name and reason."""
    failed: dict[str, str] = {}
    try:
        workers, heartbeat_age = queue.worker_heartbeats()
        pending = pending_migrations(targets)
    except DatabaseError as exc:
        return {"database": "unreachable", "error": exc.__class__.__name__,
                "failed": {"database": f"unreachable ({exc.__class__.__name__})"}}
    if pending:
        failed["migrations"] = f"{len(pending)} not applied: {', '.join(pending[:5])}"
    fresh = heartbeat_age is not None and heartbeat_age < queue.stalled_after_seconds()
    if settings.READY_REQUIRES_WORKER and not fresh:
        failed["worker"] = (
            "no worker heartbeat" if heartbeat_age is None
            else f"newest worker heartbeat is {heartbeat_age:.0f} s old"
        )
    return {
        "database": "ok",
        "pending_migrations": len(pending),
        "workers": workers,
        "newest_worker_heartbeat_age_seconds": (
            round(heartbeat_age, 3) if heartbeat_age is not None else None
        ),
        "failed": failed,
    }


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database answers, its schema is current and (unless
    READY_REQUIRES_WORKER is off) a worker is alive; otherwise 503 naming each failed check."""
    body = readiness()
    ready = not body["failed"]
    return JsonResponse({"status": "ready" if ready else "not ready", **body},
                        status=200 if ready else 503)
