"""ping: a job that records that a worker ran it (queue round-trip checks and tests)."""

from __future__ import annotations

import os

from plandeploy import taskdefs
from plandeploy.jobs.models import PingRecord


@taskdefs.ping.implement()
def ping(token: str) -> None:
    PingRecord.objects.get_or_create(token=token, defaults={"worker_pid": os.getpid()})
