"""The lifecycle shared by plan runs and preflights: start, stream the child's events, end."""

from __future__ import annotations

import enum
import html
import logging
import shutil
import time
from typing import Any, ClassVar

from django.conf import settings
from django.db import transaction
from django.db.models import Model

from plandeploy import logs, queue
from plandeploy.flowrunner import (
    Event,
    PreflightResults,
    RunResult,
    RunSpec,
    StepFinished,
    StepLog,
    StepStarted,
)
from plandeploy.hashids import encode
from plandeploy.runs.execution import writer as writes
from plandeploy.runs.execution.loaders import RunRow, load_run
from plandeploy.runs.execution.runner import current_runner
from plandeploy.runs.execution.spec import RunSetupError, SetupTimeout, build_spec
from plandeploy.runs.models import INTERRUPTED_MESSAGE, Status
from plandeploy.runs.notify import event_payload, notify
from plandeploy.runs.status import transition
from plandeploy.scrub import scrub

logger = logging.getLogger(__name__)

# How often a running task re-reads its row: a cancel recorded only in the database (the
# abort signal lost, or a maintenance job that ended the run) still stops it.
DB_CHECK_SECONDS = 1.0


def timeout_message(seconds: float) -> str:
    return (
        f"The installation exceeded the time limit of {seconds:g} seconds and was stopped."
    )


def run_duration(start: float, end: float) -> float:
    """Seconds between two instants, fractions kept: a run of over a day must not wrap to 0."""
    return round(end - start, 3)


class WorkerShutdown(Exception):
    """The worker is stopping and the grace period is over: stop the run now."""


class Stop(enum.Enum):
    """Why a run should stop before its end."""

    SHUTDOWN = "shutdown"  # the worker is going away: the run ends as interrupted
    CANCEL = "cancel"  # a user (or a sweep) asked: the run ends as canceled


class Run:
    """Carries one run from `started` to a final status, whatever happens.

    Subclasses name the model and what differs between a plan run and a preflight.
    """

    model: ClassVar[type[Model]]
    kind: ClassVar[str]  # the RunSpec kind
    log_event: ClassVar[str]  # the "event" of the run's final log record
    canceled_message: ClassVar[str]

    def __init__(self, pk: int, context: queue.JobContext | None) -> None:
        self.pk = pk
        self.context = context
        self.writer = writes.Writer(self.model, pk)
        self.public_id = self.make_public_id(pk)
        self.secrets: list[str] = []
        self.started = False
        self._next_db_check = 0.0
        self._db_cancel = False
        self._begun = time.monotonic()
        # JOB_TIMEOUT counts from the job's start, setup included; the worker set it.
        remaining = queue.remaining_seconds()
        self._deadline = self._begun + (
            remaining if remaining is not None else float(settings.JOB_TIMEOUT)
        )

    # -- what differs between runs ----------------------------------------------------------

    @staticmethod
    def make_public_id(pk: int) -> str:
        return str(pk)

    def selected_steps_of(self) -> int | None:
        """The job whose selected steps run; None: every step (they are all checked)."""
        return None

    def started_announcement(self) -> str | None:
        """The event the write that marks the run running also sends."""
        return None

    def on_failed(self) -> None:
        """Called in the transaction that moves the run to `failed`."""

    # -- lifecycle ---------------------------------------------------------------------------

    def execute(self) -> str:
        row = load_run(self.model, self.pk)
        if row is None:
            logger.warning("%s %s no longer exists", self.model.__name__, self.public_id)
            return "missing"
        if row.status != Status.STARTED:
            return row.status
        logs.bind(org_id_hash=logs.org_id_hash(row.org_id))
        # Just read: the first look for a cancel recorded only in the database can wait.
        self._next_db_check = time.monotonic() + DB_CHECK_SECONDS
        home = None
        try:
            if row.cancel_requested_at is not None:
                return self._finish(RunResult("canceled", None))
            spec = self._build_spec(row)
            home = spec.home_dir
            result = self._run(spec)
            return self._finish(result)
        except WorkerShutdown:
            return self._end(Status.CANCELED, INTERRUPTED_MESSAGE)
        except SetupTimeout:
            return self._end(Status.CANCELED, timeout_message(settings.JOB_TIMEOUT))
        except RunSetupError as exc:
            return self._end(Status.FAILED, self._clean(str(exc)))
        except Exception as exc:
            logger.exception("%s %s errored", self.model.__name__, self.public_id)
            return self._end(Status.FAILED, self._clean(f"{type(exc).__name__}: {exc}"))
        except BaseException:
            # Interpreter exit, task cancellation: the row must not stay `started` forever.
            self._end(Status.CANCELED, INTERRUPTED_MESSAGE)
            raise
        finally:
            if home:
                shutil.rmtree(home, ignore_errors=True)

    def _build_spec(self, row: RunRow) -> RunSpec:
        return build_spec(row, kind=self.kind, public_id=self.public_id,
                          job_pk=self.selected_steps_of(), secrets=self.secrets,
                          deadline=self._deadline)

    def _run(self, spec: RunSpec) -> RunResult:
        # Setup lines logged before the first step wait for its start and are written with
        # it: no extra commit between the child starting and the step being shown running.
        self.writer.last_write = time.monotonic()
        try:
            flow_runner = current_runner()
        except Exception as exc:
            raise RunSetupError(f"The run process could not be started: {exc}") from exc
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise SetupTimeout("no time left for the run")
        return flow_runner.run(
            spec,
            on_event=self._on_event,
            should_cancel=self._poll,
            timeout=left,
            cancel_grace=float(settings.CANCEL_GRACE_SECONDS),
        )

    def _finish(self, result: RunResult) -> str:
        if result.outcome == "complete":
            return self._end(Status.COMPLETE, None)
        if result.outcome == "failed":
            return self._end(Status.FAILED, self._clean(result.error or "The run failed."))
        if result.outcome == "timeout":
            return self._end(Status.CANCELED, timeout_message(settings.JOB_TIMEOUT))
        return self._end(Status.CANCELED, self.canceled_message)

    def _end(self, status: str, exception: str | None) -> str:
        """Write what is left and move to `status` in one transaction; announce it."""
        fields: dict[str, Any] = {}
        if exception is not None:
            fields["exception"] = exception
        with transaction.atomic():
            self.writer.flush()
            moved = transition(self.model, self.pk, status, **fields)
            if moved and status == Status.FAILED:
                self.on_failed()
        if not moved:
            # Someone else ended it first (a cancel before start, fail_stalled_jobs, the
            # time-limit sweep): their status stands; statuses only move forward.
            current = self.model.objects.filter(pk=self.pk).values_list("status", flat=True)
            status = current.first() or status
        elif status == Status.FAILED:
            self._report_backend_error()
        logger.info(
            "%s %s %s", self.model.__name__, self.public_id, status,
            extra={"context": {
                "event": self.log_event,
                "status": status,
                "duration": run_duration(self._begun, time.monotonic()),
                "db_writes": self.writer.writes,
            }},
        )
        return status

    def _report_backend_error(self) -> None:
        user_id = self.model.objects.filter(pk=self.pk).values_list("user_id", flat=True).first()
        if user_id:
            notify("BACKEND_ERROR", "user", encode(user_id), message="There was an error")

    def _clean(self, text: str) -> str:
        return scrub(text, tuple(self.secrets))

    # -- events from the child ---------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        writer = self.writer
        if isinstance(event, StepStarted):
            # One statement sets the running state (so a run still waiting in the queue is
            # never shown running) and the step's (empty) entry, so clients see which step
            # runs as soon as it begins.
            writer.step_entry(event.step_id)
            first = not self.started
            self.started = True
            writer.flush(
                mark_started=first,
                started_announce=self.started_announcement() if first else None,
            )
        elif isinstance(event, StepLog):
            writer.add_log(event.step_id, event.text)
            if writer.due():
                writer.flush()
        elif isinstance(event, StepFinished):
            entry = writer.step_entry(event.step_id)
            entry["status"] = event.status
            if event.message:
                entry["message"] = html.escape(event.message)
            # Written with whatever comes next (the next step's start, the run's end: both
            # follow within milliseconds), or by a cancel poll soon after: one commit fewer
            # per step, and a step's end still shows within a few tenths of a second.
            writer.announce_soon(
                event_payload(
                    "TASK_COMPLETED", self.model.__name__.lower(), self.public_id,
                    step=event.step_id, status=event.status,
                ),
                writes.STEP_END_WRITE_SECONDS,
            )
        elif isinstance(event, PreflightResults):
            writer.set_results(event.results)
            writer.flush()

    # -- stopping early ----------------------------------------------------------------------

    def stop_reason(self) -> Stop | None:
        """Whether the run should stop, and why: reads the abort signal and, now and then, the
        row (a cancel recorded only in the database still stops the run). Writes nothing."""
        if self.context is not None:
            reason = self.context.abort_reason()
            if reason == queue.AbortReason.SHUTDOWN:
                return Stop.SHUTDOWN
            if reason == queue.AbortReason.USER_REQUEST:
                return Stop.CANCEL
        now = time.monotonic()
        if not self._db_cancel and now >= self._next_db_check:
            self._next_db_check = now + DB_CHECK_SECONDS
            row = self.model.objects.filter(pk=self.pk).values(
                "status", "cancel_requested_at"
            ).first()
            self._db_cancel = (
                row is None or row["status"] != Status.STARTED
                or row["cancel_requested_at"] is not None
            )
        return Stop.CANCEL if self._db_cancel else None

    def _poll(self) -> bool:
        """The FlowRunner's periodic call: write what is due, then act on stop_reason()."""
        if self.writer.due():
            self.writer.flush()
        reason = self.stop_reason()
        if reason is Stop.SHUTDOWN:
            raise WorkerShutdown()
        return reason is Stop.CANCEL
