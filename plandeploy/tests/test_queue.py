"""The queue on a real PostgreSQL with a real worker: transactions decide what runs."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from plandeploy import queue, taskdefs
from plandeploy.jobs.models import PingRecord
from plandeploy.queue import worker as queue_worker
from plandeploy.testing.processes import run_worker_until_idle, wait_until, worker_process

pytestmark = pytest.mark.django_db(transaction=True)


def test_job_deferred_in_committed_transaction_runs_on_worker_process():
    token = uuid.uuid4().hex
    with transaction.atomic():
        taskdefs.ping.defer(token=token)
    with worker_process(queues="short", concurrency=1) as worker:
        record = wait_until(lambda: PingRecord.objects.filter(token=token).first(),
                            message="the worker to run ping")
    assert record.worker_pid == worker.pid


def test_job_deferred_in_rolled_back_transaction_never_runs():
    kept, dropped = uuid.uuid4().hex, uuid.uuid4().hex
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            taskdefs.ping.defer(token=dropped)
            raise RuntimeError("roll back")
    taskdefs.ping.defer(token=kept)
    run_worker_until_idle(queues=("short",))
    assert PingRecord.objects.filter(token=kept).exists()
    assert not PingRecord.objects.filter(token=dropped).exists()
    assert queue.queue_length("short") == 0


def test_queue_length_counts_waiting_jobs_only():
    for _ in range(3):
        taskdefs.ping.defer(token=uuid.uuid4().hex)
    assert queue.queue_length("short") == 3
    assert queue.queue_length("default") == 0
    run_worker_until_idle(queues=("short",))
    assert queue.queue_length("short") == 0


def test_a_job_deferred_during_an_empty_fetch_is_fetched_at_once(monkeypatch):
    """The lost wake-up: a notification that arrives while a fetch finds nothing.

    The first fetch finds the queue empty; while it is in flight a job is deferred and
    its notification counted. The worker's manager must fetch again instead of sleeping
    until the next poll.
    """
    import asyncio

    from asgiref.sync import sync_to_async
    from procrastinate import manager as procrastinate_manager
    from procrastinate.contrib.django import app

    token = uuid.uuid4().hex
    connector = app.connector.get_worker_connector()
    wake_safe = queue_worker.WakeSafeJobManager(connector)
    plain_fetch = procrastinate_manager.JobManager.fetch_job
    calls = []

    async def fetch_while_a_job_arrives(self, queues, worker_id):
        job = await plain_fetch(self, queues=queues, worker_id=worker_id)
        calls.append(job)
        if len(calls) == 1:
            await sync_to_async(taskdefs.ping.defer)(token=token)
            self.notifications_seen += 1
        return job

    monkeypatch.setattr(procrastinate_manager.JobManager, "fetch_job", fetch_while_a_job_arrives)

    async def fetch_once():
        await connector.open_async()
        try:
            worker_id = await wake_safe.register_worker()
            try:
                return await wake_safe.fetch_job(queues=["short"], worker_id=worker_id)
            finally:
                await wake_safe.unregister_worker(worker_id)
        finally:
            await connector.close_async()

    job = asyncio.run(fetch_once())
    assert calls[0] is None
    assert job is not None and job.task_kwargs == {"token": token}
