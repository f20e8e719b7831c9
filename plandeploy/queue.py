"""The job queue: defer tasks inside Django transactions and run procrastinate workers."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from procrastinate import manager, tasks
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector

logger = logging.getLogger(__name__)

QUEUES = ("default", "short")

_django_job_manager: manager.JobManager | None = None


def django_job_manager() -> manager.JobManager:
    # The worker's own connector uses a pool outside Django's transaction; deferring
    # through the Django connection keeps a job and its queue row in one transaction.
    global _django_job_manager
    if _django_job_manager is None:
        _django_job_manager = manager.JobManager(DjangoConnector())
    return _django_job_manager


def defer(
    task: tasks.Task | str,
    *,
    queue: str | None = None,
    lock: str | None = None,
    queueing_lock: str | None = None,
    **task_kwargs: Any,
) -> int:
    """Defer `task` (or a task name) on the current Django connection, inside its transaction."""
    if isinstance(task, str):
        name, default_queue = task, "default"
    else:
        name, default_queue = task.name, task.queue
    deferrer = tasks.configure_task(
        name=name,
        job_manager=django_job_manager(),
        queue=queue or default_queue,
        lock=lock,
        queueing_lock=queueing_lock,
        task_kwargs=task_kwargs,
    )
    return deferrer.defer()


def queue_length(queue: str) -> int:
    """Jobs waiting (not yet started) on `queue`."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = %s AND status = 'todo'",
            [queue],
        )
        return cursor.fetchone()[0]


def stalled_after_seconds() -> float:
    """Heartbeat age after which a worker is taken for dead (its runs are then ended).

    A stopping worker sends no heartbeat while its runs use their shutdown grace and are
    then stopped, so a worker is never declared dead before that has had time to happen.
    """
    return max(
        settings.STALLED_WORKER_SECONDS,
        settings.SHUTDOWN_GRACE_SECONDS + settings.WORKER_HEARTBEAT_SECONDS + 5,
    )


def worker_options(queues: Iterable[str], concurrency: int) -> dict[str, Any]:
    return {
        "queues": list(queues),
        "concurrency": concurrency,
        # LISTEN/NOTIFY wakes the worker at once; the short poll bounds a missed wake-up.
        "fetch_job_polling_interval": settings.WORKER_POLLING_SECONDS,
        "abort_job_polling_interval": 0.5,
        # Runs get SHUTDOWN_GRACE_SECONDS to finish; then the task is aborted and ends them.
        "shutdown_graceful_timeout": settings.SHUTDOWN_GRACE_SECONDS,
        "update_heartbeat_interval": settings.WORKER_HEARTBEAT_SECONDS,
        "stalled_worker_timeout": stalled_after_seconds(),
        "delete_jobs": "successful",
        "install_signal_handlers": True,
    }


class WakeSafeJobManager(manager.JobManager):
    """A job manager that never sleeps through a LISTEN/NOTIFY wake-up.

    procrastinate clears its wake-up event after each fetch, so a job deferred while an
    empty fetch is in flight waits for the next poll. Counting notifications lets an empty
    fetch that overlapped one fetch again at once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notifications_seen = 0

    async def listen_for_jobs(self, *, on_notification, queues=None) -> None:
        async def count_then_forward(*, channel: str, notification: Any) -> None:
            self.notifications_seen += 1
            await on_notification(channel=channel, notification=notification)

        await super().listen_for_jobs(on_notification=count_then_forward, queues=queues)

    async def fetch_job(self, queues: Iterable[str] | None, worker_id: int):
        while True:
            seen = self.notifications_seen
            job = await super().fetch_job(queues=queues, worker_id=worker_id)
            if job is not None or self.notifications_seen == seen:
                return job


def run_worker(
    queues: Iterable[str] = QUEUES, concurrency: int = 2, name: str | None = None
) -> None:
    """Run a worker in this process until SIGINT/SIGTERM."""
    options = worker_options(queues, concurrency)
    if name:
        options["name"] = name
    worker_connector = app.connector.get_worker_connector()  # type: ignore[attr-defined]
    runs_flows = "default" in options["queues"]
    if runs_flows:
        # The warm forkserver for plan runs starts before the worker's threads do.
        from plandeploy.jobs import flows

        flows.start_runner()
    try:
        with app.replace_connector(worker_connector) as worker_app:
            logger.info(
                "worker starting: queues=%s concurrency=%s", options["queues"], concurrency
            )
            regular_manager = worker_app.job_manager
            worker_app.job_manager = WakeSafeJobManager(worker_connector)
            try:
                worker_app.run_worker(**options)
            finally:
                worker_app.job_manager = regular_manager
    finally:
        if runs_flows:
            flows.stop_runner()
