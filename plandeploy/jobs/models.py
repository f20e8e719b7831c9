"""What the workers write besides the queue: ping receipts and scheduled-job successes."""

from __future__ import annotations

from django.db import models


class PingRecord(models.Model):
    token = models.CharField(max_length=64, unique=True)
    worker_pid = models.IntegerField()
    received_at = models.DateTimeField(auto_now_add=True)


class ScheduleSuccess(models.Model):
    """When each scheduled job last succeeded, written by the queue adapter after every run.

    The queue deletes the rows of jobs that succeeded, so it keeps no record of its own.
    """

    name = models.CharField(max_length=128, primary_key=True)
    succeeded_at = models.DateTimeField()
