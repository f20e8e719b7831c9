"""Code that runs inside the isolated run process: builds CumulusCI configs and runs the spec."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import select
import signal
import sys
import threading
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection
from typing import Any

from cumulusci.core.config import BaseProjectConfig, FlowConfig, OrgConfig, UniversalConfig
from cumulusci.core.flowrunner import (
    FlowCallback,
    FlowCoordinator,
    PreflightFlowCoordinator,
    StepResult,
    StepSpec,
    StepVersion,
)
from cumulusci.core.utils import import_global

from plandeploy.flowrunner.types import (
    FlowFinished,
    PreflightResults,
    ProcessExited,
    RunSpec,
    StepFinished,
    StepLog,
    StepStarted,
    run_secrets,
)
from plandeploy.orgs.local import LocalOrgConfig
from plandeploy.scrub import scrub

CANCEL = "cancel"

# Worker settings (database URL, encryption keys, tokens) must not reach product code, which
# can read os.environ and hands it to `command` subprocesses.
_SENSITIVE_ENV = re.compile(
    r"^(DJANGO_|PLANDEPLOY_|DATABASE_|PG|AWS_)|SECRET|PASSWORD|TOKEN|CREDENTIAL|_KEY$",
    re.IGNORECASE,
)


class RunCanceled(Exception):
    """Raised from pre_task to stop the flow before the next step."""


class _AccessTokenOrgConfig(OrgConfig):
    """A Salesforce org reached with an access token the service has already refreshed.

    The service owns the refresh token and connected app; the run process only loads user and
    org info with the token it was given, so no refresh credentials enter the child.
    """

    def refresh_oauth_token(
        self, keychain: Any, connected_app: Any = None, is_sandbox: bool = False
    ) -> None:
        self._load_userinfo()
        self._load_orginfo()

    def save(self) -> None:
        """Nothing to save: the service stores the org, not a CumulusCI keychain."""


class Outbox:
    """Serialises events to the parent and batches log lines per step.

    Lines are buffered and sent at most once per `flush_seconds` (by a timer thread), plus
    once whenever the step changes or another event is sent, so a step's logs always arrive
    before its StepFinished and a chatty step costs a handful of messages, not one per line.
    """

    def __init__(self, conn: Connection, secrets: list[str], flush_seconds: float) -> None:
        self._conn = conn
        self._secrets = tuple(s for s in secrets if s)
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._lines_step: str | None = None
        self.current_step: str | None = None
        self._stop = threading.Event()
        self._flush_seconds = max(flush_seconds, 0.01)
        self._timer = threading.Thread(target=self._flush_loop, name="log-flush", daemon=True)
        self._timer.start()

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def log(self, line: str) -> None:
        with self._lock:
            if self._lines and self._lines_step != self.current_step:
                self._flush_locked()
            self._lines_step = self.current_step
            self._lines.append(line)

    def send(self, event: object) -> None:
        with self._lock:
            self._flush_locked()
            self._conn.send(event)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._lines:
            return
        text = self.scrub("\n".join(self._lines))
        self._lines = []
        self._conn.send(StepLog(self._lines_step, text))

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            with self._lock:
                self._flush_locked()


class _OutboxLogHandler(logging.Handler):
    def __init__(self, outbox: Outbox) -> None:
        super().__init__(logging.INFO)
        self._outbox = outbox

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = record.getMessage()
            if record.exc_info:
                line = f"{line}\n{logging.Formatter().formatException(record.exc_info)}"
            self._outbox.log(line)
        except Exception:  # a broken log call must not fail the step
            self.handleError(record)


class _RunCallbacks(FlowCallback):
    """Turns CumulusCI step callbacks into events, and is where cancellation takes effect."""

    def __init__(self, outbox: Outbox, cancel: threading.Event, step_ids: dict[str, str]):
        self._outbox = outbox
        self._cancel = cancel
        self._step_ids = step_ids
        self.emit_steps = True

    def pre_task(self, step: StepSpec) -> None:
        # A running task cannot be interrupted from inside CumulusCI; the only clean stop point
        # is before the next task starts.
        if self._cancel.is_set():
            raise RunCanceled()
        if not self.emit_steps:
            return
        step_id = self._step_ids[str(step.step_num)]
        self._outbox.current_step = step_id
        self._outbox.send(StepStarted(step_id))

    def post_task(self, step: StepSpec, result: StepResult) -> None:
        if not self.emit_steps:
            return
        step_id = self._step_ids[str(step.step_num)]
        if result.exception is None:
            event = StepFinished(step_id, "ok", None)
        else:
            event = StepFinished(step_id, "error", self._outbox.scrub(describe(result.exception)))
        self._outbox.send(event)
        self._outbox.current_step = None


def describe(exc: BaseException) -> str:
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _die() -> None:
    # The run process leads its own process group: take task subprocesses down with it.
    try:
        os.killpg(0, signal.SIGKILL)
    finally:
        os._exit(1)


def _watch_parent(parent_pid: int, conn: Connection, cancel: threading.Event) -> None:
    """Exit when the worker dies (even by SIGKILL); relay cancel requests from the pipe."""
    try:
        pidfd = os.pidfd_open(parent_pid)
    except ProcessLookupError:
        _die()
        return
    while True:
        readable, _, _ = select.select([pidfd, conn], [], [])
        if pidfd in readable:
            _die()
        if conn in readable:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                _die()
                return
            if message == CANCEL:
                cancel.set()


def _scrub_environment() -> None:
    for key in [k for k in os.environ if _SENSITIVE_ENV.search(k)]:
        del os.environ[key]


def _prepare_process(spec: RunSpec) -> None:
    _scrub_environment()
    os.makedirs(spec.home_dir, exist_ok=True)
    os.environ["HOME"] = spec.home_dir
    os.chdir(spec.repo_dir)
    if spec.repo_dir not in sys.path:
        sys.path.insert(0, spec.repo_dir)


def _install_log_handler(outbox: Outbox) -> None:
    handler = _OutboxLogHandler(outbox)
    # "tasks" catches product modules that use logging.getLogger(__name__).
    for name in ("cumulusci", "tasks"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _org_config(spec: RunSpec) -> OrgConfig:
    org = spec.org
    config: dict[str, Any] = dict(org.config)
    config["org_id"] = org.org_id
    if org.username:
        config["username"] = org.username
    if org.instance_url:
        config["instance_url"] = org.instance_url
    if org.org_type == "local":
        if not org.workspace:
            raise ValueError("A local org needs a workspace directory.")
        config["workspace"] = org.workspace
        return LocalOrgConfig(config, name="local")
    if org.org_type == "salesforce":
        if not (org.access_token and org.instance_url):
            raise ValueError("A salesforce org needs an access token and an instance URL.")
        config["access_token"] = org.access_token
        return _AccessTokenOrgConfig(config, name="salesforce")
    raise ValueError(f"Unknown org type {org.org_type!r}.")


def _step_specs(spec: RunSpec, project_config: BaseProjectConfig) -> list[StepSpec]:
    specs = []
    for step in spec.steps:
        try:
            task_class = import_global(step.task_class)
        except Exception as exc:
            raise RuntimeError(
                f"Cannot load task class {step.task_class!r} for step {step.name!r}: "
                f"{describe(exc)}"
            ) from exc
        task_config = {
            "options": dict(step.task_config.get("options") or {}),
            "checks": list(step.task_config.get("checks") or []),
        }
        specs.append(
            StepSpec(
                step_num=StepVersion(step.step_num),
                task_name=step.path or step.step_id,
                task_config=task_config,
                task_class=task_class,
                project_config=project_config,
                skip=step.skip,
            )
        )
    return specs


def _files_signature(paths: tuple[str, ...]) -> tuple[tuple[int, int] | None, ...]:
    signature = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            signature.append(None)
        else:
            signature.append((stat.st_mtime_ns, stat.st_size))
    return tuple(signature)


@dataclass
class LoadedProject:
    """A product's CumulusCI project config (and maybe its task modules), loaded in advance."""

    repo_dir: str
    config: BaseProjectConfig
    files: tuple[str, ...]  # what was read: cumulusci.yml, imported task modules
    signature: tuple[tuple[int, int] | None, ...]

    def serves(self, repo_dir: str) -> bool:
        # A plain directory is read live: an edited cumulusci.yml or task module means the
        # project must be loaded again.
        return repo_dir == self.repo_dir and _files_signature(self.files) == self.signature


def load_project(repo_dir: str, import_tasks: bool = False) -> LoadedProject:
    """Build `repo_dir`'s project config; with `import_tasks`, also import the task classes
    its cumulusci.yml defines (one that fails is left for the run that uses it to report)."""
    files = (os.path.join(repo_dir, "cumulusci.yml"),)
    signature = _files_signature(files)  # before reading: an edit meanwhile shows next time
    project_config = BaseProjectConfig(UniversalConfig(), repo_info={"root": repo_dir})
    # CumulusCI's `tasks` module is synthetic; only listed directories can be imported from.
    project_config._add_tasks_directory_to_python_path()
    if import_tasks:
        for task in (project_config.config_project.get("tasks") or {}).values():
            class_path = task.get("class_path") if isinstance(task, dict) else None
            if isinstance(class_path, str):
                with contextlib.suppress(Exception):
                    import_global(class_path)
        inside = os.path.join(repo_dir, "")
        modules = tuple(
            sorted(
                module.__file__
                for module in list(sys.modules.values())
                if isinstance(getattr(module, "__file__", None), str)
                and module.__file__.startswith(inside)
            )
        )
        files += modules
        signature += _files_signature(modules)
    return LoadedProject(repo_dir, project_config, files, signature)


def _run(
    spec: RunSpec, outbox: Outbox, cancel: threading.Event, loaded: LoadedProject | None = None
) -> FlowFinished:
    if loaded is None or not loaded.serves(spec.repo_dir):
        loaded = load_project(spec.repo_dir)
    project_config = loaded.config
    org_config = _org_config(spec)
    step_ids = {str(StepVersion(s.step_num)): s.step_id for s in spec.steps}
    if len(step_ids) != len(spec.steps):
        raise ValueError("Step numbers must be unique within a run.")
    specs = _step_specs(spec, project_config)
    callbacks = _RunCallbacks(outbox, cancel, step_ids)

    if spec.kind == "flow":
        coordinator = FlowCoordinator.from_steps(
            project_config, specs, name=spec.name, callbacks=callbacks
        )
        coordinator.run(org_config)
        return FlowFinished("complete", None)

    # Check-calling tasks (`tasks.x()` in a `when`) go through pre/post_task too; they are
    # not plan steps, so only the cancel check applies to them.
    callbacks.emit_steps = False
    preflight = PreflightFlowCoordinator(
        project_config,
        FlowConfig({"checks": list(spec.plan_checks), "steps": {}}),
        name=spec.name,
        callbacks=callbacks,
    )
    preflight.steps = [s for s in specs if not s.skip]
    preflight.run(org_config)
    results: dict[str, list[dict[str, Any]]] = {}
    for key, items in preflight.preflight_results.items():
        target = "plan" if key is None else step_ids.get(str(key), str(key))
        results[target] = [
            {
                "status": item.get("status"),
                "message": outbox.scrub(item["message"]) if item.get("message") else None,
            }
            for item in items
        ]
    outbox.send(PreflightResults(results))
    return FlowFinished("complete", None)


def project_main(repo_dir: str, control: Connection, worker_pid: int) -> None:
    """Entry point of a project process: loads `repo_dir`'s project once, then forks one
    fresh run process per RunSpec it is sent, until the worker closes `control` (or the
    project's files change: it answers None and exits once its runs are done).

    Each run is a new fork of a process that holds only the loaded project, never another
    run's state. The worker is not the runs' parent: this process reaps them and sends each
    one's exit status on its own pipe (ProcessExited). It exits with the worker, as runs do.
    """
    os.setpgid(0, 0)
    try:
        worker_pidfd = os.pidfd_open(worker_pid)
    except ProcessLookupError:
        _die()
        return
    _scrub_environment()
    os.chdir(repo_dir)  # where a run loads its project too
    loaded = _try_load_project(repo_dir)
    # Runs are forked from here: their garbage collections must not walk (and copy) the
    # project config, or every run would copy the pages that hold it.
    gc.collect()
    gc.freeze()
    runs: dict[int, tuple[int, Connection]] = {}  # run pidfd -> (pid, the run's pipe)
    accepting = True
    while accepting or runs:
        waiting = [worker_pidfd, *runs, *([control] if accepting else [])]
        readable, _, _ = select.select(waiting, [], [])
        if worker_pidfd in readable:
            _die()
        for pidfd in [fd for fd in readable if fd in runs]:
            _report_exit(pidfd, *runs.pop(pidfd))
        if control not in readable:
            continue
        try:
            spec = control.recv()
            conn = Connection(reduction.recv_handle(control))
        except (EOFError, OSError):
            accepting = False  # the worker retired this project: finish the running ones
            continue
        if loaded is not None and not loaded.serves(spec.repo_dir):
            # Edited since it was loaded, and imported modules cannot be unloaded: the
            # worker starts a new project process instead of this one.
            control.send(None)
            accepting = False
            conn.close()
            continue
        inherited = [control.fileno(), worker_pidfd, *runs, *(c.fileno() for _, c in runs.values())]
        pid = os.fork()
        if pid == 0:
            _run_forked(spec, conn, worker_pid, loaded, inherited)
        pidfd = os.pidfd_open(pid)
        runs[pidfd] = (pid, conn)
        control.send(pid)
        reduction.send_handle(control, pidfd, 0)


def _try_load_project(repo_dir: str) -> LoadedProject | None:
    try:
        return load_project(repo_dir, import_tasks=True)
    except Exception:  # each run loads it again, and reports the error as its own
        return None


def _run_forked(
    spec: RunSpec,
    conn: Connection,
    worker_pid: int,
    loaded: LoadedProject | None,
    inherited: list[int],
) -> None:
    try:
        # Other runs' pipes must not be reachable from this run's (product) code.
        for fd in inherited:
            os.close(fd)
        child_main(spec, conn, worker_pid, loaded)
    finally:
        os._exit(1)


def _report_exit(pidfd: int, pid: int, conn: Connection) -> None:
    _, status = os.waitpid(pid, 0)
    os.close(pidfd)
    with contextlib.suppress(OSError):
        conn.send(ProcessExited(os.waitstatus_to_exitcode(status)))
    conn.close()


def child_main(
    spec: RunSpec, conn: Connection, parent_pid: int, loaded: LoadedProject | None = None
) -> None:
    """Entry point of a run process (forked by its project process)."""
    os.setpgid(0, 0)
    cancel = threading.Event()
    threading.Thread(
        target=_watch_parent, args=(parent_pid, conn, cancel), name="watchdog", daemon=True
    ).start()
    outbox = Outbox(conn, run_secrets(spec.org, spec.secrets), spec.log_flush_seconds)
    _install_log_handler(outbox)
    try:
        _prepare_process(spec)
        finished = _run(spec, outbox, cancel, loaded)
    except RunCanceled:
        finished = FlowFinished("canceled", None)
    except Exception as exc:
        finished = FlowFinished("failed", outbox.scrub(describe(exc)))
    outbox.current_step = None
    outbox.send(finished)
    outbox.close()
    # Skip interpreter teardown: freeing CumulusCI's ~60 MB of objects one by one costs more
    # than the whole run, and nothing is left to flush but the standard streams.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
