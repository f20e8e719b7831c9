"""Code that runs inside the isolated run process: builds CumulusCI configs and runs the spec."""

from __future__ import annotations

import os
import re
import select
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from cumulusci.core.config import BaseProjectConfig, FlowConfig, OrgConfig
from cumulusci.core.flowrunner import (
    FlowCallback,
    FlowCoordinator,
    PreflightFlowCoordinator,
    StepResult,
    StepSpec,
    StepVersion,
)
from cumulusci.core.keychain import BaseProjectKeychain
from cumulusci.core.utils import import_global

from plandeploy.flowrunner.outbox import Outbox, install_log_handler
from plandeploy.flowrunner.project_config import LoadedProject, load_project
from plandeploy.flowrunner.types import (
    FlowFinished,
    PreflightResults,
    RunSpec,
    StepFinished,
    StepStarted,
    run_secrets,
)
from plandeploy.orgs.local import LocalOrgConfig

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


def die() -> None:
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
        die()
        return
    while True:
        readable, _, _ = select.select([pidfd, conn], [], [])
        if pidfd in readable:
            die()
        if conn in readable:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                die()
                return
            if message == CANCEL:
                cancel.set()


def scrub_environment() -> None:
    for key in [k for k in os.environ if _SENSITIVE_ENV.search(k)]:
        del os.environ[key]


def _prepare_process(spec: RunSpec) -> None:
    scrub_environment()
    os.makedirs(spec.home_dir, exist_ok=True)
    os.environ["HOME"] = spec.home_dir
    os.chdir(spec.repo_dir)
    if spec.repo_dir not in sys.path:
        sys.path.insert(0, spec.repo_dir)


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


def _run(
    spec: RunSpec, outbox: Outbox, cancel: threading.Event, loaded: LoadedProject | None = None
) -> FlowFinished:
    if loaded is None or not loaded.serves(spec.repo_dir):
        loaded = load_project(spec.repo_dir)
    project_config = loaded.config
    if project_config.keychain is None:
        # Salesforce tasks ask the keychain for services (the connected app that names their
        # API client, github, ...); an in-memory keychain answers "not configured" and
        # stores nothing (the service keeps the org, not CumulusCI).
        project_config.keychain = BaseProjectKeychain(project_config, None)
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
    install_log_handler(outbox)
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
