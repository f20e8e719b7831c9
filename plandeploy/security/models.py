"""Rate-limit counters, in PostgreSQL so every web process on every host counts together."""

from __future__ import annotations

from django.db import models


class RateCounter(models.Model):
    """Requests one client (an address or a user) made in the current window of one scope.

    Counted in the database rather than in a process's memory: per-process counters would
    multiply the limit by the number of web processes and hosts.
    """

    key = models.CharField(max_length=320, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    window_ends_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["window_ends_at"], name="ratecounter_window_end")]
