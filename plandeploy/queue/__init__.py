"""The queue adapter: the one package that knows procrastinate's API, tables, channels and SQL.

Everything else declares jobs as `TaskDef`s (`plandeploy/taskdefs.py`), defers them with
`TaskDef.defer` inside its own transaction, and asks this package about the queue; workers
run through `plandeploy.queue.worker`. An upgrade of procrastinate touches this package and
the migration that indexes its table.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now
from procrastinate import exceptions as _exceptions
from procrastinate import jobs as _jobs
from procrastinate import manager, tasks
from procrastinate import sql as _sql
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.contrib.django.models import ProcrastinateJob
from procrastinate.job_context import AbortReason, JobContext

from plandeploy import logs
from plandeploy.queue.deadlines import SELF_TIMED, JobTimeout, limit_message, remaining_seconds
from plandeploy.queue.worker import (
    QUEUES,
    run_worker,
    stalled_after_seconds,
    worker_heartbeats,
    worker_ids,
    worker_options,
)

logger = logging.getLogger(__name__)

__all__ = [
    "QUEUES",
    "AbortReason",
    "AlreadyEnqueued",
    "JobContext",
    "JobTimeout",
    "TaskDef",
    "limit_message",
    "remaining_seconds",
    "run_worker",
    "stalled_after_seconds",
    "worker_heartbeats",
    "worker_ids",
    "worker_options",
]

AlreadyEnqueued = _exceptions.AlreadyEnqueued
FuncT = TypeVar("FuncT", bound=Callable[..., Any])

_django_job_manager: manager.JobManager | None = None


def django_job_manager() -> manager.JobManager:
    # The worker's own connector uses a pool outside Django's transaction; deferring
    # through the Django connection keeps a job and its queue row in one transaction.
    global _django_job_manager
    if _django_job_manager is None:
        _django_job_manager = manager.JobManager(DjangoConnector())
    return _django_job_manager


@dataclass(frozen=True)
class TaskDef:
    """A queue job's name and queue, declared once: services defer it, `jobs/` implements it.

    `lock` is the procrastinate lock every run of the job takes (two runs never overlap);
    `priority` orders fetches among jobs waiting on the same worker. A `self_timed` job
    bounds its own work by `remaining_seconds()` and ends its domain row after its time
    limit; every other job is database work that the worker stops at the limit
    (plandeploy.queue.deadlines).
    """

    name: str
    queue: str
    lock: str | None = None
    priority: int = 0
    self_timed: bool = False

    def implement(
        self, *, pass_context: bool = False, schedule: str | None = None
    ) -> Callable[[FuncT], FuncT]:
        """Register `func` as this job's code; with `schedule`, also as a periodic job
        under that named schedule (unless CRON_SCHEDULE disabled it)."""

        def register(func: FuncT) -> FuncT:
            if self.self_timed:
                SELF_TIMED.add(self.name)
            cron = settings.SCHEDULES[schedule] if schedule else None
            code = _recording_success(schedule, func) if schedule else func
            code = _in_log_context(self.name, code, pass_context)
            # Always given the context: the log context needs the queue job's id.
            task = app.task(name=self.name, queue=self.queue, pass_context=True)(code)
            if cron is not None:
                configure: dict[str, Any] = {"queue": self.queue}
                if self.lock:
                    configure["lock"] = self.lock
                task = app.periodic(cron=cron, periodic_id=schedule, **configure)(task)
            return task  # type: ignore[return-value]

        return register

    def defer(self, *, lock: str | None = None, queueing_lock: str | None = None,
              **task_kwargs: Any) -> int:
        """Defer on the current Django connection, inside its transaction; returns the queue
        job id. Raises AlreadyEnqueued when `queueing_lock` is taken by a waiting job."""
        deferrer = tasks.configure_task(
            name=self.name,
            job_manager=django_job_manager(),
            queue=self.queue,
            lock=lock or self.lock,
            queueing_lock=queueing_lock,
            priority=self.priority,
            task_kwargs=task_kwargs,
        )
        return deferrer.defer()

    def defer_unless_queued(self, queueing_lock: str, **task_kwargs: Any) -> int | None:
        """Defer, or return None when a job with `queueing_lock` is already waiting
        (a savepoint keeps the conflict from aborting the caller's transaction)."""
        try:
            with transaction.atomic():
                return self.defer(queueing_lock=queueing_lock, **task_kwargs)
        except AlreadyEnqueued:
            return None

    def defer_many(self, items: Sequence[tuple[str | None, dict[str, Any]]]) -> list[int]:
        """Defer one job per (lock, task_kwargs), in one statement, in the caller's
        transaction; returns their queue job ids in order."""
        deferred = django_job_manager().batch_defer_jobs(
            [
                _jobs.Job(
                    id=None,
                    queue=self.queue,
                    priority=self.priority,
                    lock=lock,
                    queueing_lock=None,
                    task_name=self.name,
                    task_kwargs=kwargs,
                )
                for lock, kwargs in items
            ]
        )
        return [job.id for job in deferred]

    def defer_or_join(self, **task_kwargs: Any) -> int | None:
        """See to it, in the caller's transaction, that this job runs after the commit:
        join a run of it that is still waiting, or defer a new one.

        Joining holds a KEY SHARE lock on the waiting queue row until the commit, so a
        worker's fetch (FOR UPDATE SKIP LOCKED) passes over it and it cannot start before
        the caller's rows are visible; the commit then wakes the workers with the payload the
        queue's insert trigger sends. Returns the new job's id, or None when joined. Only for
        jobs that take all pending work when they run (their arguments are then a hint).
        """
        # Found and announced in one round trip: this is on the path of every run request.
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH waiting AS (
                    SELECT id FROM procrastinate_jobs
                     WHERE task_name = %s AND status = 'todo'
                       AND (scheduled_at IS NULL OR scheduled_at <= now())
                     ORDER BY id
                     LIMIT 1
                       FOR KEY SHARE SKIP LOCKED
                ), payload AS (
                    SELECT json_build_object('type', 'job_inserted', 'job_id', id)::text AS text
                      FROM waiting
                )
                SELECT pg_notify(%s, text), pg_notify('procrastinate_any_queue_v1', text)
                  FROM payload
                """,
                [self.name, f"procrastinate_queue_v1#{self.queue}"],
            )
            if cursor.fetchone() is not None:
                return None
        return self.defer(**task_kwargs)


def _in_log_context(name: str, func: FuncT, pass_context: bool) -> FuncT:
    """`func` run with its queue job id and task name on every record it logs (LOG_FORMAT=json
    shows them), called with or without the job context as it asked.

    The queue always passes the context first; a direct call (tests, management commands)
    passes one only to a job that takes it.
    """

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        context = None
        if args and (pass_context or isinstance(args[0], JobContext)):
            context, args = args[0], args[1:]
        job = getattr(context, "job", None)
        with logs.bound(job_id=job.id if job is not None else None, task=name):
            if pass_context:
                return func(context, *args, **kwargs)
            return func(*args, **kwargs)

    return run  # type: ignore[return-value]


# The table of plandeploy.jobs.models.ScheduleSuccess (named here: the adapter sits below jobs).
SCHEDULE_SUCCESS_TABLE = "jobs_schedulesuccess"


def _recording_success(schedule: str, func: FuncT) -> FuncT:
    """`func`, recording in the database when a run of it under `schedule` succeeded."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {SCHEDULE_SUCCESS_TABLE} (name, succeeded_at) VALUES (%s, now()) "
                "ON CONFLICT (name) DO UPDATE SET succeeded_at = EXCLUDED.succeeded_at",
                [schedule],
            )
        return result

    return run  # type: ignore[return-value]


# -- the queue's state ----------------------------------------------------------------------


def queue_length(queue: str) -> int:
    """Jobs waiting (not yet started) on `queue`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = %s AND status = 'todo'",
            [queue],
        )
        return cursor.fetchone()[0]


def live_job_condition(column: str) -> str:
    """SQL that is true when the queue job whose id is in `column` still waits or runs.

    For set-based statements over our own tables (a run whose queue job has ended or
    vanished without the run ending was interrupted by a crash).
    """
    return (
        "EXISTS (SELECT 1 FROM procrastinate_jobs q "
        f"WHERE q.id = {column} AND q.status IN ('todo', 'doing'))"
    )


def carried_job_alive(field: str = "job_id") -> Exists:
    """ORM condition: the queue job whose id is in `field` still waits, or runs on a worker
    whose heartbeat is fresh (younger than `stalled_after_seconds()`).

    Its negation is the dead-run rule: the queue job ended or vanished, or it is `doing`
    on a dead worker (or on none, once procrastinate pruned the worker). Judged from the
    queue row and the heartbeat, never from the run's own timestamps: a run fetched after
    a long wait is `doing` before its first step sets `started_at`.
    """
    fresh_since = Now() - timedelta(seconds=stalled_after_seconds())
    return Exists(
        ProcrastinateJob.objects.filter(id=OuterRef(field)).filter(
            Q(status="todo") | Q(status="doing", worker__last_heartbeat__gte=fresh_since)
        )
    )


def live_job_ids(job_ids: Iterable[int]) -> list[int]:
    """The ids among `job_ids` whose queue job still waits or runs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM procrastinate_jobs WHERE id = ANY(%s) AND status IN ('todo', 'doing')",
            [list(job_ids)],
        )
        return [row[0] for row in cursor.fetchall()]


def analyze_queue() -> None:
    """Refresh the queue table's statistics.

    procrastinate's fetch is planned from them. Taken while the queue was nearly empty, they
    make PostgreSQL sort every waiting job on each fetch and check each one's lock: with
    2,000 runs queued, ~50 ms of database CPU per fetch (the throughput benchmark halved).
    """
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE procrastinate_jobs")


def cancel(job_id: int) -> bool:
    """Delete a queue job that has not started; True if it was still waiting."""
    return django_job_manager().cancel_job_by_id(job_id, delete_job=True)


def abort(job_id: int) -> None:
    """Ask the worker running `job_id` to stop it (the task sees `should_abort()`)."""
    django_job_manager().cancel_job_by_id(job_id, abort=True)


def finish_stalled_jobs(task_names: Iterable[str] | None = None) -> list[tuple[int, str]]:
    """Mark failed the running queue jobs of dead workers (heartbeat older than
    `stalled_after_seconds()`), in the caller's transaction; returns (id, task name) of each.

    Their locks are then free. procrastinate's `get_stalled_jobs` and `finish_job` are async
    and use their own connection; its stalled-job query and finish UPDATE run here on the
    Django connection instead, so the caller can end its own rows in the same transaction.
    """
    names = set(task_names) if task_names is not None else None
    with connection.cursor() as cursor:
        cursor.execute(
            _sql.queries["select_stalled_jobs_by_heartbeat"],
            {"queue": None, "task_name": None,
             "seconds_since_heartbeat": stalled_after_seconds()},
        )
        columns = [c.name for c in cursor.description]
        rows = [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]
        stalled = [(r["id"], r["task_name"]) for r in rows
                   if names is None or r["task_name"] in names]
        if stalled:
            cursor.execute(
                "UPDATE procrastinate_jobs SET status = 'failed', abort_requested = false, "
                "attempts = attempts + 1 WHERE id = ANY(%s) AND status = 'doing'",
                [[job_id for job_id, _ in stalled]],
            )
    return stalled


# -- what operators see ------------------------------------------------------------------


def queue_stats() -> dict[str, dict[str, float | None]]:
    """Per queue: jobs `waiting` (due, not yet started), `running`, and the age in seconds of
    the oldest waiting job (`oldest_waiting_seconds`, None when none waits). One query."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT j.queue_name,
                   count(*) FILTER (WHERE j.status = 'todo'),
                   count(*) FILTER (WHERE j.status = 'doing'),
                   EXTRACT(EPOCH FROM now() - min(COALESCE(j.scheduled_at, d.at))
                                              FILTER (WHERE j.status = 'todo'))
              FROM procrastinate_jobs j
              LEFT JOIN procrastinate_events d ON d.job_id = j.id AND d.type = 'deferred'
             WHERE j.status = 'doing'
                OR (j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now()))
             GROUP BY j.queue_name
            """
        )
        return {
            name: {"waiting": waiting, "running": running,
                   "oldest_waiting_seconds": float(age) if age is not None else None}
            for name, waiting, running, age in cursor.fetchall()
        }


def last_periodic_successes() -> dict[str, float]:
    """Per schedule name: when a run of it last succeeded, as a Unix time."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT name, EXTRACT(EPOCH FROM succeeded_at) FROM {SCHEDULE_SUCCESS_TABLE}"
        )
        return {name: float(at) for name, at in cursor.fetchall()}
