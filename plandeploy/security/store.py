"""Counting requests per key and window in one atomic statement on the shared database."""

from __future__ import annotations

import math
import time
from datetime import datetime

from django.db import connection

from plandeploy.security.models import RateCounter

TABLE = RateCounter._meta.db_table
# Expired counters are removed a batch at a time when some window restarts (at most once a
# second per process).
PURGE_BATCH = 1000
PURGE_INTERVAL_SECONDS = 1.0
_last_purge = -PURGE_INTERVAL_SECONDS


def hit(key: str, period_seconds: int) -> tuple[int, float]:
    """Count one request for `key`; return the count in its window and seconds until it ends."""
    return hit_many([key], period_seconds)[key]


def hit_many(keys: list[str], period_seconds: int) -> dict[str, tuple[int, float]]:
    """Count one request for each key, in one statement; per key the count in its window
    and the seconds until it ends.

    A fixed window that starts at the first request: INSERT … ON CONFLICT increments in one
    statement, so concurrent requests in different processes never lose a count. The keys
    are written in one order, so two requests sharing keys cannot deadlock.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {TABLE} AS c (key, count, window_ends_at)
            SELECT key, 1, now() + make_interval(secs => %(period)s)
              FROM unnest(%(keys)s::text[]) AS key ORDER BY key
            ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN c.window_ends_at <= now() THEN 1 ELSE c.count + 1 END,
                window_ends_at = CASE WHEN c.window_ends_at <= now()
                    THEN now() + make_interval(secs => %(period)s) ELSE c.window_ends_at END
            RETURNING key, count, window_ends_at, now()
            """,
            {"keys": sorted(set(keys)), "period": period_seconds},
        )
        rows = cursor.fetchall()
        if any(count == 1 for _key, count, _ends, _now in rows):
            _purge_expired(cursor)
    return {key: (count, _seconds_between(now, ends)) for key, count, ends, now in rows}


def _purge_expired(cursor) -> None:
    # At most once a second per process: a purge per new window would cost every first
    # request of a client a statement more, and a counter past its window counts nothing.
    global _last_purge
    now = time.monotonic()
    if now - _last_purge < PURGE_INTERVAL_SECONDS:
        return
    _last_purge = now
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
