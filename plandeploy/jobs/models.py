"""Records written by the diagnostic job, so operators can prove a worker consumes the queue."""

from __future__ import annotations

from django.db import models


class PingRecord(models.Model):
    token = models.CharField(max_length=64, unique=True)
    worker_pid = models.IntegerField()
    received_at = models.DateTimeField(auto_now_add=True)
