"""ping: a job that records that a worker ran it (queue round-trip checks and tests)."""

from __future__ import annotations

import os

from procrastinate.contrib.django import app

from plandeploy.jobs.models import PingRecord


@app.task(name="ping", queue="short")
def ping(token: str) -> None:
    PingRecord.objects.get_or_create(token=token, defaults={"worker_pid": os.getpid()})
