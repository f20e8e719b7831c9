"""The one way state changes are announced: PostgreSQL NOTIFY with a small JSON payload."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import connection

CHANNEL = "plandeploy_events"


def event_payload(event: str, model: str, object_id: Any, **extra: Any) -> str:
    """The JSON text NOTIFY carries for `event` (for statements that also notify)."""
    return json.dumps({"type": event, "model": model, "id": str(object_id), **extra}, default=str)


def payload_head(event: str, model: str, **extra: Any) -> str:
    """An event's payload up to its id: SQL appends `to_json(id)::text || '}'` per row."""
    return json.dumps({"type": event, "model": model, **extra})[:-1] + ', "id": '


def notify(event: str, model: str, object_id: Any, **extra: Any) -> None:
    """Announce `event` for one object; delivered when the current transaction commits."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_notify(%s, %s)", [CHANNEL, event_payload(event, model, object_id, **extra)]
        )


def execute_announcing(change_sql: str, params: list, event: str, model: str,
                       object_id: Any) -> None:
    """Run the data-changing statement `change_sql` and announce `event` for one object in
    the same statement: one round trip for both, for writes on a request's hot path."""
    with connection.cursor() as cursor:
        cursor.execute(f"WITH changed AS ({change_sql}) SELECT pg_notify(%s, %s)",
                       [*params, CHANNEL, event_payload(event, model, object_id)])


def notify_many(event: str, model: str, object_ids: Iterable[Any]) -> None:
    """Announce `event` for many objects in one statement."""
    ids = [str(object_id) for object_id in object_ids]
    if not ids:
        return
    # The payload's constant part is built once here: per row, PostgreSQL only quotes the
    # id (json_build_object per row took three times as long for a 10,000-row batch).
    head = payload_head(event, model)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_notify(%s, %s || to_json(id)::text || '}') FROM unnest(%s::text[]) AS id",
            [CHANNEL, head, ids],
        )
