"""Running procrastinate workers: pools, options, a wake-safe fetch, side tasks that retry."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from procrastinate import manager
from procrastinate import worker as _worker
from procrastinate.contrib.django import app

from plandeploy.queue.deadlines import time_limit_middleware, watch_time_limits

logger = logging.getLogger(__name__)

SHORT_QUEUE = "short"
QUEUES = ("default", SHORT_QUEUE)


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
    """A job manager that never sleeps through a LISTEN/NOTIFY wake-up, nor stops its worker
    when the database is briefly away.

    procrastinate clears its wake-up event after each fetch, so a job deferred while an
    empty fetch is in flight waits for the next poll. Counting notifications lets an empty
    fetch that overlapped one fetch again at once.

    While PostgreSQL restarts, procrastinate's listener fails to reconnect and its fetch
    raises; either stopped the whole worker (with exit status 0). The listener retries with
    a back-off instead, and a failed fetch counts as an empty one (the worker polls again).
    A worker that starts (or stops) while the database is away, as one restarted by its
    supervisor just before PostgreSQL went down, used to exit with an error at its
    registration; it waits for the database instead (and, stopping, leaves its row to the
    dead-worker sweep).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notifications_seen = 0
        self.fetch_failing = False

    async def listen_for_jobs(self, *, on_notification, queues=None) -> None:
        async def count_then_forward(*, channel: str, notification: Any) -> None:
            self.notifications_seen += 1
            await on_notification(channel=channel, notification=notification)

        listen = super().listen_for_jobs
        # Notifications sent while it reconnects are lost: the fetch poll picks their jobs up.
        await _retry_forever("notification listener", lambda: listen(
            on_notification=count_then_forward, queues=queues))

    async def prune_stalled_workers(self, seconds_since_heartbeat: float) -> list[int]:
        prune = super().prune_stalled_workers
        return await _retry_forever("pruning stalled workers",
                                    lambda: prune(seconds_since_heartbeat),
                                    only=_is_connection_error,
                                    longest=settings.WORKER_HEARTBEAT_SECONDS)

    async def register_worker(self) -> int:
        return await _retry_forever("registering the worker", super().register_worker,
                                    only=_is_connection_error,
                                    longest=settings.WORKER_HEARTBEAT_SECONDS)

    async def unregister_worker(self, worker_id: int) -> None:
        try:
            await super().unregister_worker(worker_id)
        except Exception as exc:
            if not _is_connection_error(exc):
                raise
            logger.warning("unregistering worker %s failed (%s); the dead-worker sweep "
                           "removes its row", worker_id, _reason(exc))

    async def fetch_job(self, queues: Iterable[str] | None, worker_id: int):
        while True:
            seen = self.notifications_seen
            try:
                job = await super().fetch_job(queues=queues, worker_id=worker_id)
            except Exception as exc:  # the database is away: poll again
                if not _is_connection_error(exc):
                    raise
                if not self.fetch_failing:
                    logger.warning("job fetch failed (%s); polling until the database "
                                   "answers", _reason(exc))
                self.fetch_failing = True
                return None
            if self.fetch_failing:
                logger.warning("job fetch works again")
                self.fetch_failing = False
            if job is not None or self.notifications_seen == seen:
                return job


# Back-off (first, longest) of a worker's retries after a database error.
SIDE_TASK_RETRY_SECONDS = (1.0, 30.0)


class ResilientWorker(_worker.Worker):
    """A worker whose periodic deferrer, heartbeat and job status writes survive database
    errors.

    procrastinate stops the whole worker when one of its side tasks raises, so one deadlock
    or a PostgreSQL restart used to stop the periodic jobs of that worker for good. These
    side tasks retry with a back-off instead, and so does saving a finished job's status
    while the connection is lost. (Overrides private methods of procrastinate's Worker: the
    version is bounded in pyproject.toml.)
    """

    defers_periodic = True

    async def _periodic_deferrer(self) -> None:
        if not self.defers_periodic:
            await asyncio.Event().wait()  # stays pending: the side-task monitor expects that
        await _retry_forever("periodic deferrer", super()._periodic_deferrer)

    async def _update_heartbeat(self) -> None:
        # Retried at least once per heartbeat interval: backing off further after a database
        # restart left the heartbeat stale long enough for other workers to take this live
        # worker for dead, fail its running jobs and delete its row (its next fetch then
        # raised and the worker exited).
        await _retry_forever("worker heartbeat", super()._update_heartbeat,
                             longest=settings.WORKER_HEARTBEAT_SECONDS)

    async def _persist_job_status(self, *args: Any, **kwargs: Any) -> None:
        # A job that ends while the database is away would otherwise stay `doing` for good
        # under a live worker (whose heartbeat keeps the dead-worker sweep off it), with its
        # lock held: an org or a scheduled job blocked for ever.
        persist = super()._persist_job_status
        await _retry_forever("saving a job's status", lambda: persist(*args, **kwargs),
                             only=_is_connection_error)


def _is_connection_error(exc: BaseException) -> bool:
    """Whether `exc` (or the psycopg error procrastinate wrapped in it) is a lost or refused
    connection, as opposed to an error a retry would only repeat."""
    return any(isinstance(e, psycopg.OperationalError) for e in (exc, exc.__cause__))


def _reason(exc: BaseException) -> str:
    """One line naming a database error: procrastinate's wrapper says only "Database error",
    the psycopg error it wraps says what happened (its CONTEXT lines are left out)."""
    cause = exc.__cause__ or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}".rstrip(": ")


async def _retry_forever(what: str, run: Callable[[], Any],
                         only: Callable[[BaseException], bool] = lambda _exc: True,
                         longest: float = SIDE_TASK_RETRY_SECONDS[1]) -> Any:
    delay = min(SIDE_TASK_RETRY_SECONDS[0], longest)
    while True:
        try:
            return await run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a database error: the worker must go on
            if not only(exc):
                raise
            logger.warning("%s failed (%s); retrying in %g s", what, _reason(exc), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)


def worker_pools(
    queues: Iterable[str], concurrency: int, short_concurrency: int
) -> list[tuple[list[str], int]]:
    """(queues, slots) of each worker a process runs: `short` gets slots of its own.

    One pool shared by `default` and `short` let four long installs hold every slot, so
    the enqueuer, the maintenance jobs and the dead-worker sweep waited up to JOB_TIMEOUT.
    A process serving only `short` (or only other queues) runs one pool of `concurrency`.
    """
    names = list(dict.fromkeys(queues))
    others = [name for name in names if name != SHORT_QUEUE]
    if SHORT_QUEUE not in names or not others:
        return [(names, concurrency)]
    return [(others, concurrency), ([SHORT_QUEUE], short_concurrency)]


def run_worker(
    queues: Iterable[str] = QUEUES,
    concurrency: int = 2,
    name: str | None = None,
    *,
    short_concurrency: int | None = None,
    wait: bool = True,
    install_signal_handlers: bool = True,
) -> None:
    """Run this process's workers until SIGINT/SIGTERM (or, with wait=False, until no job
    is left to run on `queues`): one per pool of `worker_pools`, in one event loop."""
    if short_concurrency is None:
        short_concurrency = settings.SHORT_WORKER_CONCURRENCY
    # Until idle, one pool: a job that defers another (the enqueuer a run) must see it run.
    pools = (worker_pools(queues, concurrency, short_concurrency) if wait
             else [(list(queues), concurrency)])
    worker_connector = app.connector.get_worker_connector()  # type: ignore[attr-defined]
    with app.replace_connector(worker_connector) as worker_app:
        regular_manager = worker_app.job_manager
        worker_app.job_manager = WakeSafeJobManager(worker_connector)

        async def run() -> None:
            loop = asyncio.get_running_loop()
            # Sync tasks run in the loop's default executor, which has min(32, CPUs + 4)
            # threads: fewer than the slots on a small host. Every slot gets its thread.
            loop.set_default_executor(ThreadPoolExecutor(
                max_workers=sum(slots for _, slots in pools) + 2,
                thread_name_prefix="plandeploy-job",
            ))
            async with worker_app.open_async():
                worker_app.perform_import_paths()
                workers = [
                    _make_worker(worker_app, pool_queues, slots, name, wait,
                                 # One periodic deferrer per process is enough (the
                                 # queue defers each tick once across all of them).
                                 defers_periodic=index == len(pools) - 1,
                                 pool_name=pool_queues[0] if len(pools) > 1 else None)
                    for index, (pool_queues, slots) in enumerate(pools)
                ]
                await _run_together(workers, wait, install_signal_handlers, worker_connector)

        try:
            asyncio.run(run())
        finally:
            worker_app.job_manager = regular_manager


def _make_worker(worker_app: Any, queues: list[str], slots: int, name: str | None,
                 wait: bool, *, defers_periodic: bool, pool_name: str | None) -> ResilientWorker:
    options = worker_options(queues, slots)
    defaults = worker_app.worker_defaults or {}
    options.update(
        wait=wait,
        # Signals stop every worker of the process at once (_run_together).
        install_signal_handlers=False,
        task_middleware=[*defaults.get("task_middleware", []), time_limit_middleware],
    )
    if name or pool_name:
        options["name"] = ":".join(part for part in (name, pool_name) if part)
    logger.info("worker starting: queues=%s concurrency=%s", queues, slots)
    worker = ResilientWorker(app=worker_app, **{**defaults, **options})
    worker.defers_periodic = defers_periodic
    return worker


async def _run_together(workers: list[ResilientWorker], wait: bool,
                        install_signal_handlers: bool, connector: Any) -> None:
    loop = asyncio.get_running_loop()

    def stop_all() -> None:
        # A second signal gets the default handling (an impatient operator).
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        for worker in workers:
            worker.stop()

    if install_signal_handlers:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop_all)
    watchdog = asyncio.create_task(watch_time_limits(connector), name="time limits")
    running = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        if wait:
            # A worker that stopped on its own (a failed side task) stops the process, so
            # that its supervisor starts a whole new one.
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for worker in workers:
                worker.stop()
        await asyncio.gather(*running)
    finally:
        watchdog.cancel()
        if install_signal_handlers:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


def worker_ids() -> set[int]:
    """Ids of the workers registered in the queue (alive, or dead and not yet pruned)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM procrastinate_workers")
        return {row[0] for row in cursor.fetchall()}


def worker_heartbeats() -> tuple[int, float | None]:
    """(registered workers, age in seconds of the newest heartbeat or None)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), EXTRACT(EPOCH FROM now() - max(last_heartbeat)) "
            "FROM procrastinate_workers"
        )
        workers, age = cursor.fetchone()
    return workers, (float(age) if age is not None else None)
