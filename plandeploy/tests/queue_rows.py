"""Test helpers that read the queue's rows through the adapter's table names."""

from __future__ import annotations

from django.db import connection


def forget_workers() -> None:
    """Remove every worker's registration, as if none had ever run (jobs keep their rows)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_workers")
