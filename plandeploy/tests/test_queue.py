"""The queue on a real PostgreSQL with a real worker: transactions decide what runs."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from plandeploy import queue
from plandeploy.jobs.diagnostics import ping
from plandeploy.jobs.models import PingRecord
from plandeploy.testing.processes import run_worker_until_idle, wait_until, worker_process

pytestmark = pytest.mark.django_db(transaction=True)


def test_job_deferred_in_committed_transaction_runs_on_worker_process():
    token = uuid.uuid4().hex
    with transaction.atomic():
        queue.defer(ping, token=token)
    with worker_process(queues="short", concurrency=1) as worker:
        record = wait_until(lambda: PingRecord.objects.filter(token=token).first(),
                            message="the worker to run ping")
    assert record.worker_pid == worker.pid


def test_job_deferred_in_rolled_back_transaction_never_runs():
    kept, dropped = uuid.uuid4().hex, uuid.uuid4().hex
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            queue.defer(ping, token=dropped)
            raise RuntimeError("roll back")
    queue.defer(ping, token=kept)
    run_worker_until_idle(queues=("short",))
    assert PingRecord.objects.filter(token=kept).exists()
    assert not PingRecord.objects.filter(token=dropped).exists()
    assert queue.queue_length("short") == 0


def test_queue_length_counts_waiting_jobs_only():
    for _ in range(3):
        queue.defer(ping, token=uuid.uuid4().hex)
    assert queue.queue_length("short") == 3
    assert queue.queue_length("default") == 0
    run_worker_until_idle(queues=("short",))
    assert queue.queue_length("short") == 0
