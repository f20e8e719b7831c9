"""run_flows_job and preflight_job: a plan or its checks run by CumulusCI in a warm child process.

The worker thread never runs product code: it builds a RunSpec, hands it to the worker's
FlowRunner (one forkserver per worker process) and turns the child's events into database
writes of the columns it owns (results, log, started_at, status), batched per job. Also here:
fail_stalled_jobs, which ends the runs of crashed workers.
"""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model

from plandeploy import queue, repos, taskdefs
from plandeploy.flowrunner import (
    Event,
    FlowRunner,
    OrgInput,
    PreflightResults,
    RunResult,
    RunSpec,
    StepFinished,
    StepInput,
    StepLog,
    StepStarted,
)
from plandeploy.hashids import encode
from plandeploy.runs.models import (
    CANCELED_MESSAGE,
    INTERRUPTED_MESSAGE,
    Job,
    PreflightResult,
    ScratchOrg,
    Status,
)
from plandeploy.runs.notify import CHANNEL, event_payload, notify
from plandeploy.runs.status import transition, transition_many
from plandeploy.scrub import scrub

logger = logging.getLogger(__name__)

PREFLIGHT_CANCELED_MESSAGE = "Preflight canceled."
# Writes of results/log per run: at most one per this many seconds, plus one per step start.
LOG_WRITE_SECONDS = 0.5
# A step's end is written with the next write, at most this long after it.
STEP_END_WRITE_SECONDS = 0.2
# How often a running task re-reads its row: a cancel recorded only in the database (the
# abort signal lost, or a maintenance job that ended the run) still stops it.
DB_CHECK_SECONDS = 1.0


def timeout_message(seconds: float) -> str:
    return (
        f"The installation exceeded the time limit of {seconds:g} seconds and was stopped."
    )


# -- the worker's FlowRunner ------------------------------------------------------------------

_runner: FlowRunner | None = None
_runner_lock = threading.Lock()


def start_runner() -> FlowRunner:
    """Start this process's FlowRunner (its forkserver preloads Django and CumulusCI).

    Called by the worker at start-up; the first run starts it lazily otherwise.
    """
    global _runner
    with _runner_lock:
        if _runner is None:
            flow_runner = FlowRunner()
            flow_runner.start()
            _runner = flow_runner
        return _runner


def stop_runner() -> None:
    global _runner
    with _runner_lock:
        if _runner is not None:
            _runner.stop()
            _runner = None


class WorkerShutdown(Exception):
    """The worker is stopping and the grace period is over: stop the run now."""


# -- the jobs ---------------------------------------------------------------------------------


@taskdefs.run_flows_job.implement(pass_context=True)
def run_flows_job(context: queue.JobContext, job_pk: int) -> str:
    """Runs a plan against a CumulusCI org."""
    return _Run(Job, job_pk, context).execute()


@taskdefs.preflight_job.implement(pass_context=True)
def preflight_job(context: queue.JobContext, preflight_pk: int) -> str:
    """Runs preflight checks against an org."""
    return _Run(PreflightResult, preflight_pk, context).execute()


@taskdefs.fail_stalled_jobs.implement(schedule="fail_stalled_jobs")
def fail_stalled_jobs(timestamp: int | None = None) -> int:
    """End the runs of crashed workers (and any run whose queue job is gone) as interrupted."""
    return end_stalled_runs()


# -- one run ----------------------------------------------------------------------------------


_checkouts: dict[tuple[str, str], Path] = {}
_SHA = re.compile(r"^[0-9a-f]{40}$")


class RunSetupError(Exception):
    """The run cannot start (no org, no repository, ...); the message is shown to the user."""


@dataclass
class _Writer:
    """Accumulates a run's results and log lines and writes them in batches (W8).

    Only `results`, `log` and `edited_at` are written, by one UPDATE that merges the changed
    step entries into the stored results (jsonb `||`) and appends to the log: a concurrent
    change of any other column (is_public, is_valid) is never overwritten (W7).
    """

    model: type[Model]
    pk: int
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)
    announcements: list[str] = field(default_factory=list)  # NOTIFY payloads, in order
    last_write: float = 0.0
    # When set, a write is due at this time although LOG_WRITE_SECONDS has not passed.
    write_by: float | None = None
    writes: int = 0

    def step_entry(self, step_id: str) -> dict[str, Any]:
        entries = self.results.setdefault(step_id, [{}])
        if not entries or not isinstance(entries[0], dict):
            entries[:] = [{}]
        self.dirty.add(step_id)
        return entries[0]

    def add_log(self, step_id: str | None, text: str) -> None:
        self.log.append(text)
        if step_id is not None:
            entry = self.step_entry(step_id)
            escaped = html.escape(text)
            entry["logs"] = f"{entry['logs']}\n{escaped}" if entry.get("logs") else escaped

    def announce_soon(self, payload: str, seconds: float) -> None:
        """Send `payload` with the next write, which happens within `seconds`."""
        self.announcements.append(payload)
        deadline = time.monotonic() + seconds
        self.write_by = deadline if self.write_by is None else min(self.write_by, deadline)

    @property
    def pending(self) -> bool:
        return bool(self.dirty or self.log or self.announcements)

    def due(self) -> bool:
        if not self.pending:
            return False
        now = time.monotonic()
        return now - self.last_write >= LOG_WRITE_SECONDS or (
            self.write_by is not None and now >= self.write_by
        )

    def flush(self, mark_started: bool = False, started_announce: str | None = None) -> None:
        """Write what is pending and send the waiting announcements, in one statement.

        `mark_started`: also set the running state (started_at, if still unset and the row
        still started); the write that sets it also sends `started_announce`, first.
        """
        if not (self.pending or mark_started):
            return
        delta = {step_id: self.results[step_id] for step_id in self.dirty}
        log_text = "\n".join(self.log)
        now = _now()
        sets, notifies = "", []
        before_where: list[Any] = [_json(delta), log_text, log_text, log_text]
        after_where: list[Any] = []
        if mark_started:
            sets = (", started_at = CASE WHEN started_at IS NULL AND status = %s THEN %s "
                    "ELSE started_at END")
            before_where += [Status.STARTED, now]
            if started_announce:
                notifies.append("CASE WHEN started_at = %s THEN pg_notify(%s, %s) END")
                after_where += [now, CHANNEL, started_announce]
        for payload in self.announcements:
            notifies.append("pg_notify(%s, %s)")
            after_where += [CHANNEL, payload]
        sql = f"""
            UPDATE {self.model._meta.db_table}
               SET results = results || %s::jsonb,
                   log = CASE WHEN %s = '' THEN log WHEN log = '' THEN %s
                              ELSE log || E'\\n' || %s END,
                   edited_at = now(){sets}
             WHERE id = %s
        """
        if notifies:
            sql = (f"WITH written AS ({sql} RETURNING started_at) "
                   f"SELECT {', '.join(notifies)} FROM written")
        with connection.cursor() as cursor:
            cursor.execute(sql, [*before_where, self.pk, *after_where])
        self.dirty.clear()
        self.log.clear()
        self.announcements.clear()
        self.write_by = None
        self.last_write = time.monotonic()
        self.writes += 1


def _json(value: Any) -> str:
    return json.dumps(value)


class _Run:
    """Carries one Job or PreflightResult from `started` to a final status, whatever happens."""

    def __init__(self, model: type[Model], pk: int, context: queue.JobContext | None) -> None:
        self.model = model
        self.pk = pk
        self.context = context
        self.is_job = model is Job
        self.writer = _Writer(model, pk)
        self.public_id = encode(pk) if self.is_job else str(pk)
        self.secrets: list[str] = []
        self.started = False
        self.outcome_status: str | None = None
        self._next_db_check = 0.0
        self._db_cancel = False
        self._begun = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------------

    def execute(self) -> str:
        row = _load_run(self.model, self.pk)
        if row is None:
            logger.warning("%s %s no longer exists", self.model.__name__, self.public_id)
            return "missing"
        if row.status != Status.STARTED:
            return row.status
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
        except RunSetupError as exc:
            return self._end(Status.FAILED, self._clean(str(exc)))
        except Exception as exc:
            logger.exception("%s %s errored", self.model.__name__, self.public_id)
            return self._end(Status.FAILED, self._clean(f"{type(exc).__name__}: {exc}"))
        except BaseException:
            # Interpreter exit, task cancellation: never leave the row `started` (W5, W32).
            self._end(Status.CANCELED, INTERRUPTED_MESSAGE)
            raise
        finally:
            if home:
                shutil.rmtree(home, ignore_errors=True)

    def _run(self, spec: RunSpec) -> RunResult:
        # Setup lines logged before the first step wait for its start and are written with
        # it: no extra commit between the child starting and the step being shown running.
        self.writer.last_write = time.monotonic()
        try:
            flow_runner = _runner or start_runner()
        except Exception as exc:
            raise RunSetupError(f"The run process could not be started: {exc}") from exc
        return flow_runner.run(
            spec,
            on_event=self._on_event,
            should_cancel=self._should_cancel,
            timeout=float(settings.JOB_TIMEOUT),
            cancel_grace=float(settings.CANCEL_GRACE_SECONDS),
        )

    def _finish(self, result: RunResult) -> str:
        if result.outcome == "complete":
            return self._end(Status.COMPLETE, None)
        if result.outcome == "failed":
            return self._end(Status.FAILED, self._clean(result.error or "The run failed."))
        if result.outcome == "timeout":
            return self._end(Status.CANCELED, timeout_message(settings.JOB_TIMEOUT))
        message = CANCELED_MESSAGE if self.is_job else PREFLIGHT_CANCELED_MESSAGE
        return self._end(Status.CANCELED, message)

    def _end(self, status: str, exception: str | None) -> str:
        """Write what is left and move to `status` in one transaction; announce it."""
        fields: dict[str, Any] = {}
        if exception is not None:
            fields["exception"] = exception
        with transaction.atomic():
            self.writer.flush()
            moved = transition(self.model, self.pk, status, **fields)
            if moved and status == Status.FAILED and self.is_job:
                # A failed installation on a scratch org deletes the org (the job stays).
                from plandeploy.jobs.scratch_orgs import installation_failed

                installation_failed(self.pk)
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
                "event": "job" if self.is_job else "preflight",
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
        return scrub(text, tuple(s for s in self.secrets if s))

    # -- events from the child ---------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        writer = self.writer
        if isinstance(event, StepStarted):
            # One statement: the running state (W29) and the step's (empty) entry, so
            # clients see which step runs as soon as it begins.
            writer.step_entry(event.step_id)
            first = not self.started
            self.started = True
            writer.flush(
                mark_started=first,
                started_announce=(
                    event_payload("JOB_STARTED", "job", self.public_id)
                    if first and self.is_job else None
                ),
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
                STEP_END_WRITE_SECONDS,
            )
        elif isinstance(event, PreflightResults):
            for key, entries in event.results.items():
                writer.results[key] = [
                    {**item, "message": html.escape(item["message"])}
                    if item.get("message") else item
                    for item in entries
                ]
                writer.dirty.add(key)
            writer.flush()

    def _should_cancel(self) -> bool:
        if self.writer.due():
            self.writer.flush()
        if self.context is not None:
            reason = self.context.abort_reason()
            if reason == queue.AbortReason.SHUTDOWN:
                raise WorkerShutdown()
            if reason == queue.AbortReason.USER_REQUEST:
                return True
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
        return self._db_cancel

    # -- building the spec -------------------------------------------------------------------

    def _build_spec(self, row: _RunRow) -> RunSpec:
        org = self._org_input(row)
        self.secrets = [org.org_id, org.access_token or "", org.username or "",
                        org.instance_url or "", *self._org_tokens(row)]
        repo_dir = self._checkout(row.repo_url, row.commit_ish)
        steps = _load_steps(row.plan_id, self.pk if self.is_job else None)
        home = tempfile.mkdtemp(prefix=f"plandeploy-run-{self.public_id}-")
        return RunSpec(
            kind="flow" if self.is_job else "preflight",
            repo_dir=str(repo_dir),
            steps=steps,
            org=org,
            home_dir=home,
            plan_checks=list(row.preflight_checks or []),
            secrets=[s for s in self.secrets if s],
            log_flush_seconds=LOG_WRITE_SECONDS,
            name=row.plan_name or "plandeploy",
        )

    def _checkout(self, repo_url: str, commit_ish: str) -> Path:
        if not repo_url:
            raise RunSetupError("The product has no repository.")
        path = Path(repo_url).expanduser()
        if "://" not in repo_url and "@" not in repo_url and not path.is_absolute():
            # A relative path names a directory of this installation (the sample product).
            repo_url = str(settings.BASE_DIR.parent / path)
        key = (repo_url, commit_ish or "")
        cached = _checkouts.get(key)
        if cached is not None and cached.is_dir():
            return cached
        try:
            path = repos.checkout(repo_url, commit_ish or "", Path(settings.REPO_CACHE_ROOT))
        except repos.RepoError as exc:
            raise RunSetupError(str(exc)) from exc
        # A plain directory (read live) and a full sha (immutable) always resolve to the same
        # path; a branch or tag may move, so it is resolved again each run.
        if not path.is_relative_to(Path(settings.REPO_CACHE_ROOT)) or _SHA.match(key[1]):
            _checkouts[key] = path
        return path

    @staticmethod
    def _org_tokens(row: _RunRow) -> list[str]:
        """The org's stored tokens: never sent to a local org's run, always scrubbed."""
        connection_row = row.connection
        if connection_row is None:
            return []
        return [t for t in (connection_row.access_token, connection_row.refresh_token) if t]

    def _org_input(self, row: _RunRow) -> OrgInput:
        if row.user_id is not None:
            connection_row = row.connection
            if connection_row is None or connection_row.org_id != row.org_id:
                raise RunSetupError(
                    "The connection to the org was lost. Please log in again and retry."
                )
            if connection_row.org_type == "local":
                return OrgInput(
                    "local", connection_row.org_id, workspace=connection_row.workspace,
                    username=connection_row.org_username or None,
                    instance_url=connection_row.instance_url or None,
                )
            return OrgInput(
                "salesforce", connection_row.org_id,
                instance_url=connection_row.instance_url or None,
                access_token=connection_row.access_token,
                username=connection_row.org_username or None,
            )
        scratch = ScratchOrg.objects.filter(org_id=row.org_id).first() if row.org_id else None
        if scratch is None:
            # A persistent-org run whose user was deleted, or a scratch org that is gone (W5).
            raise RunSetupError("The org for this run no longer exists.")
        config = scratch.config or {}
        if config.get("workspace"):
            return OrgInput("local", scratch.org_id, workspace=config["workspace"],
                            username=config.get("username"))
        return OrgInput(
            "salesforce", scratch.org_id, instance_url=config.get("instance_url"),
            access_token=config.get("access_token"), username=config.get("username"),
        )


@dataclass
class _Connection:
    org_id: str | None
    org_type: str
    workspace: str
    org_username: str
    instance_url: str
    access_token: str | None
    refresh_token: str | None


@dataclass
class _RunRow:
    """What a run needs from its row, plan, version, product and the user's org connection."""

    status: str
    cancel_requested_at: Any
    org_id: str | None
    user_id: int | None
    plan_id: int
    commit_ish: str
    preflight_checks: list
    plan_name: str
    repo_url: str
    connection: _Connection | None


def _load_run(model: type[Model], pk: int) -> _RunRow | None:
    """The run and everything its spec needs, in one statement.

    Written out as SQL because it runs once per run on the worker's hot path: building the
    equivalent five-join ORM query cost more CPU than the whole database round trip.
    """
    from plandeploy.accounts.models import OrgConnection
    from plandeploy.catalog.models import Plan, PlanTemplate, Product, Version

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT r.status, r.cancel_requested_at, r.org_id, r.user_id, p.id,
                   COALESCE(NULLIF(p.commit_ish, ''), v.commit_ish, ''),
                   p.preflight_checks, t.name, pr.repo_url,
                   c.id, c.org_id, c.org_type, c.workspace, c.org_username, c.instance_url,
                   c.access_token, c.refresh_token
              FROM {model._meta.db_table} AS r
              JOIN {Plan._meta.db_table} AS p ON p.id = r.plan_id
              JOIN {Version._meta.db_table} AS v ON v.id = p.version_id
              JOIN {Product._meta.db_table} AS pr ON pr.id = v.product_id
              JOIN {PlanTemplate._meta.db_table} AS t ON t.id = p.plan_template_id
              LEFT JOIN {OrgConnection._meta.db_table} AS c ON c.user_id = r.user_id
             WHERE r.id = %s
            """,
            [pk],
        )
        found = cursor.fetchone()
    if found is None:
        return None
    (status, cancel_requested_at, org_id, user_id, plan_id, commit_ish, checks, plan_name,
     repo_url, connection_pk, *org) = found
    # Columns decoded by their own fields, as the ORM would (Fernet tokens, jsonb).
    tokens = OrgConnection._meta.get_field("access_token")
    checks = Plan._meta.get_field("preflight_checks").from_db_value(checks, None, connection)
    return _RunRow(
        status, cancel_requested_at, org_id, user_id, plan_id, commit_ish, checks or [],
        plan_name, repo_url,
        None if connection_pk is None else _Connection(
            *org[:5],
            tokens.from_db_value(org[5], None, connection),
            tokens.from_db_value(org[6], None, connection),
        ),
    )


def _load_steps(plan_id: int, job_pk: int | None) -> list[StepInput]:
    """The plan's steps in order, in the current language where translated; for a job, the
    steps it did not select are skipped (a preflight checks them all)."""
    from django.utils import translation

    from plandeploy.catalog.models import Step

    names = Step._parler_meta.root_model._meta.db_table
    selected = (
        f"EXISTS (SELECT 1 FROM {Job.steps.through._meta.db_table} AS js "
        "WHERE js.job_id = %(job)s AND js.step_id = s.id)" if job_pk is not None else "true"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT s.id, s.step_num, s.task_class, s.task_config, s.path, {selected},
                   (SELECT n.name FROM {names} AS n
                     WHERE n.master_id = s.id
                     ORDER BY n.language_code = %(language)s DESC,
                              n.language_code = %(default)s DESC, n.id
                     LIMIT 1)
              FROM {Step._meta.db_table} AS s
             WHERE s.plan_id = %(plan)s
             ORDER BY s.step_num_key
            """,
            {"plan": plan_id, "job": job_pk,
             "language": translation.get_language() or settings.LANGUAGE_CODE,
             "default": settings.LANGUAGE_CODE},
        )
        rows = cursor.fetchall()
    task_config = Step._meta.get_field("task_config")
    return [
        StepInput(
            step_id=encode(pk),
            step_num=step_num,
            name=name or "",
            task_class=task_class,
            task_config=task_config.from_db_value(config, None, connection) or {},
            skip=not chosen,
            path=path or None,
        )
        for pk, step_num, task_class, config, path, chosen, name in rows
    ]


def run_preflight_now(preflight_pk: int, context: queue.JobContext | None = None) -> str:
    """Run a preflight in the calling task (create_scratch_org runs its org's first one so)."""
    return _Run(PreflightResult, preflight_pk, context).execute()


def checkout_plan(plan: Model) -> Path:
    """The plan's repository at the commit its steps run from: plan, else version (W15)."""
    version = plan.version
    return _Run(PreflightResult, 0, None)._checkout(
        version.product.repo_url, plan.commit_ish or version.commit_ish
    )


def _now():
    from django.utils import timezone

    return timezone.now()


def run_duration(start: float, end: float) -> float:
    """Seconds between two instants, whole (the reference used timedelta.seconds: W32)."""
    return round(end - start, 3)


# -- crashed workers --------------------------------------------------------------------------


def end_stalled_runs() -> int:
    """End, as interrupted, the runs of dead workers and runs whose queue job has vanished.

    Uses procrastinate's own stalled-job query (worker heartbeats); the stalled queue jobs
    are marked failed, which releases their per-org lock so the org's next run can start.
    """
    ended = 0
    with transaction.atomic(), connection.cursor() as cursor:
        stalled_ids = [job_id for job_id, _ in queue.finish_stalled_jobs(taskdefs.RUN_TASKS)]
        for model in (Job, PreflightResult):
            table = model._meta.db_table
            # Runs of dead workers, plus runs whose queue job ended or disappeared without
            # the run ending (a crash between the two): nothing else will ever end them.
            cursor.execute(
                f"""
                SELECT r.id FROM {table} r
                 WHERE r.status = 'started' AND r.job_id IS NOT NULL
                   AND (r.job_id = ANY(%s) OR NOT {queue.live_job_condition("r.job_id")})
                """,
                [stalled_ids],
            )
            pks = [r[0] for r in cursor.fetchall()]
            ended += len(transition_many(model, pks, Status.CANCELED,
                                         exception=INTERRUPTED_MESSAGE))
    if ended:
        logger.warning("ended %d interrupted run(s)", ended)
    return ended
