"""GET /healthz: database reachability and the age of the newest worker heartbeat."""

from __future__ import annotations

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse

from plandeploy import queue


def healthz(request: HttpRequest) -> JsonResponse:
    try:
        workers, heartbeat_age = queue.worker_heartbeats()
    except DatabaseError as exc:
        return JsonResponse(
            {"database": "unreachable", "error": exc.__class__.__name__}, status=503
        )
    return JsonResponse(
        {
            "database": "ok",
            "workers": workers,
            "newest_worker_heartbeat_age_seconds": (
                round(heartbeat_age, 3) if heartbeat_age is not None else None
            ),
        }
    )
