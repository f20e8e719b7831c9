"""Time limits of queue jobs: each job's deadline, the database guard, and the worker's watchdog.

procrastinate runs a sync task in a thread, and a thread cannot be killed. So the limit is
enforced where the work waits:

- Every job gets a deadline when it starts: SHORT_JOB_TIMEOUT on queue `short`, JOB_TIMEOUT
  on any other queue. Code running in the job reads it (`remaining_seconds()`) to bound
  what it waits for: a checkout's git commands, the flow child (whose own limit then counts
  from the job's start, setup included), a scratch org's creation and its preflight.
- Jobs that end their own domain row after the limit (plan runs, preflights, scratch-org
  creation: `TaskDef(self_timed=True)`) do just that. Every other job is database work and is
  guarded: its connection gets a `statement_timeout` of the whole limit, a statement started
  after the deadline is refused, and the worker's watchdog cancels (`pg_cancel_backend`) a
  statement still running at the deadline, such as one waiting for a row lock. The job then
  raises `JobTimeout`, the queue marks it failed and its procrastinate lock is free for the
  next tick; its connection is closed, so session state it held (advisory locks) goes too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg.errors
from django.conf import settings
from django.db import DatabaseError, Error, connection

logger = logging.getLogger(__name__)

# How often the watchdog looks for jobs past their deadline.
WATCH_SECONDS = 0.5
# A job still running this long past its limit is reported as stuck.
OVERDUE_REPORT_SECONDS = 60.0

# Names of the tasks that watch their own deadline (filled in by TaskDef.implement).
SELF_TIMED: set[str] = set()


class JobTimeout(Exception):
    """The job ran past its time limit; the message names the limit."""


def limit_of(queue_name: str) -> tuple[str, float]:
    """(setting name, seconds) of the time limit of jobs on `queue_name`."""
    if queue_name == "short":
        return "SHORT_JOB_TIMEOUT", float(settings.SHORT_JOB_TIMEOUT)
    return "JOB_TIMEOUT", float(settings.JOB_TIMEOUT)


def limit_message(queue_name: str) -> str:
    name, seconds = limit_of(queue_name)
    return f"The job exceeded its time limit of {seconds:g} seconds ({name}) and was stopped."


@dataclass
class RunningJob:
    job_id: int
    task_name: str
    queue_name: str
    deadline: float  # time.monotonic()
    guarded: bool
    backend_pid: int | None = None
    # The database's clock at the deadline: only statements begun before it are cancelled,
    # so a cancel sent as the job ends can never hit the next job on the same connection.
    db_deadline: datetime | None = None
    timed_out: bool = False
    next_cancel: float = 0.0
    reported: set[str] = field(default_factory=set)

    def past_deadline(self) -> bool:
        return time.monotonic() >= self.deadline


_running: dict[int, RunningJob] = {}
_current = threading.local()


def current_job() -> RunningJob | None:
    """The job this thread runs (None outside a worker's job)."""
    return getattr(_current, "job", None)


def remaining_seconds() -> float | None:
    """Seconds left before this thread's job passes its limit (None outside a job)."""
    job = current_job()
    return None if job is None else job.deadline - time.monotonic()


def time_limit_middleware(call_next: Callable[[], Any], context: Any, worker: Any) -> Any:
    """procrastinate sync task middleware: runs the task under its job's deadline."""
    job = context.job
    _, seconds = limit_of(job.queue)
    running = RunningJob(
        job_id=job.id, task_name=job.task_name, queue_name=job.queue,
        deadline=time.monotonic() + seconds, guarded=job.task_name not in SELF_TIMED,
    )
    _current.job = running
    _running[job.id] = running
    try:
        if not running.guarded:
            return call_next()
        _start_guard(running, seconds)
        with connection.execute_wrapper(_guard(running)):
            return call_next()
    finally:
        _running.pop(job.id, None)
        _current.job = None
        if running.guarded:
            _end_guard(running)


def _start_guard(running: RunningJob, seconds: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, false), pg_backend_pid(), now()",
            [str(int(seconds * 1000))],
        )
        _, running.backend_pid, started = cursor.fetchone()
    running.db_deadline = started + timedelta(seconds=seconds)


def _end_guard(running: RunningJob) -> None:
    if running.timed_out:
        logger.warning("job %s (%s): %s", running.job_id, running.task_name,
                       limit_message(running.queue_name))
        # Whatever the job left in its session (advisory locks, an aborted transaction)
        # must not reach the next job on this thread.
        connection.close()
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    except Error:  # the connection broke: a fresh one comes with the default setting
        connection.close()


def _guard(running: RunningJob):
    def guard(execute, sql, params, many, context):
        if running.past_deadline():
            running.timed_out = True
            raise JobTimeout(limit_message(running.queue_name))
        try:
            return execute(sql, params, many, context)
        except DatabaseError as exc:
            if running.past_deadline() or _is_canceled(exc):
                running.timed_out = True
                raise JobTimeout(limit_message(running.queue_name)) from exc
            raise

    return guard


def _is_canceled(exc: BaseException) -> bool:
    # A statement_timeout or the watchdog's cancel (Django keeps psycopg's error as cause).
    return isinstance(exc.__cause__, psycopg.errors.QueryCanceled)


async def watch_time_limits(connector: Any) -> None:
    """The worker's watchdog: cancel the database work of guarded jobs past their deadline,
    report any job long past it. Runs until cancelled; survives database errors."""
    while True:
        await asyncio.sleep(WATCH_SECONDS)
        now = time.monotonic()
        for running in list(_running.values()):
            if now < running.deadline:
                continue
            if "late" not in running.reported:
                running.reported.add("late")
                logger.warning("job %s (%s) passed its time limit; stopping it",
                               running.job_id, running.task_name)
            if running.guarded and running.backend_pid and now >= running.next_cancel:
                running.next_cancel = now + 1.0
                await _cancel_statement(connector, running)
            if ("overdue" not in running.reported
                    and now >= running.deadline + OVERDUE_REPORT_SECONDS):
                # Stuck outside the database and outside any wait that knows the deadline:
                # nothing can stop a thread, so an operator must know.
                running.reported.add("overdue")
                logger.error("job %s (%s) still runs %g s past its time limit",
                             running.job_id, running.task_name, OVERDUE_REPORT_SECONDS)


async def _cancel_statement(connector: Any, running: RunningJob) -> None:
    try:
        await connector.execute_query_async(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
            "WHERE pid = %(pid)s AND state = 'active' AND query_start < %(before)s",
            pid=running.backend_pid, before=running.db_deadline,
        )
    except Exception as exc:  # the database is away: the next round tries again
        logger.warning("cancelling job %s's statement failed: %s", running.job_id, exc)
