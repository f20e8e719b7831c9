"""GET /healthz: database reachability and the age of the newest worker heartbeat."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXTRACT(EPOCH FROM now() - max(last_heartbeat)), count(*) "
                "FROM procrastinate_workers"
            )
            heartbeat_age, workers = cursor.fetchone()
    except DatabaseError as exc:
        return JsonResponse(
            {"database": "unreachable", "error": exc.__class__.__name__}, status=503
        )
    return JsonResponse(
        {
            "database": "ok",
            "workers": workers,
            "newest_worker_heartbeat_age_seconds": (
                round(float(heartbeat_age), 3) if heartbeat_age is not None else None
            ),
        }
    )
