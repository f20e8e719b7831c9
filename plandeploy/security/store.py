"""Counting requests per key and window in one atomic statement on the shared database."""

from __future__ import annotations

import math
from datetime import datetime

from django.db import connection

from plandeploy.security.models import RateCounter

TABLE = RateCounter._meta.db_table
# Expired counters are removed a batch at a time, whenever some window restarts.
PURGE_BATCH = 1000


def hit(key: str, period_seconds: int) -> tuple[int, float]:
    """Count one request for `key`; return the count in its window and seconds until it ends.

    A fixed window that starts at the first request: INSERT … ON CONFLICT increments in one
    statement, so concurrent requests in different processes never lose a count.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {TABLE} AS c (key, count, window_ends_at)
            VALUES (%(key)s, 1, now() + make_interval(secs => %(period)s))
            ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN c.window_ends_at <= now() THEN 1 ELSE c.count + 1 END,
                window_ends_at = CASE WHEN c.window_ends_at <= now()
                    THEN now() + make_interval(secs => %(period)s) ELSE c.window_ends_at END
            RETURNING count, window_ends_at, now()
            """,
            {"key": key, "period": period_seconds},
        )
        count, window_ends_at, now = cursor.fetchone()
        if count == 1:
            _purge_expired(cursor)
    return count, _seconds_between(now, window_ends_at)


def _purge_expired(cursor) -> None:
    cursor.execute(
        f"""
        DELETE FROM {TABLE} WHERE key IN (
            SELECT key FROM {TABLE} WHERE window_ends_at < now() - interval '1 minute'
            LIMIT {PURGE_BATCH} FOR UPDATE SKIP LOCKED)
        """
    )


def _seconds_between(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
