"""Inputs, streamed events and results of a flow run (plain picklable dataclasses)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

OrgType = Literal["local", "salesforce"]
RunKind = Literal["flow", "preflight"]
FlowOutcome = Literal["complete", "failed", "canceled"]
RunOutcome = Literal["complete", "failed", "canceled", "timeout"]
StepStatus = Literal["ok", "error"]


@dataclass
class StepInput:
    """One plan step, as the child turns it into a CumulusCI StepSpec."""

    step_id: str
    step_num: str
    name: str
    task_class: str  # dotted path: "tasks.components.InstallComponent" or a cumulusci class
    task_config: dict[str, Any] = field(default_factory=dict)  # {"options": {}, "checks": []}
    skip: bool = False
    path: str | None = None  # CumulusCI task name, for ^^path.value references; default step_id


@dataclass
class OrgInput:
    """The target org. `access_token` etc. are only for `salesforce` orgs."""

    org_type: OrgType
    org_id: str
    workspace: str | None = None
    instance_url: str | None = None
    access_token: str | None = None
    username: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # extra OrgConfig keys


def run_secrets(org: OrgInput, extra: Iterable[str] = ()) -> list[str]:
    """The strings scrubbed from all a run reports: the org's identifiers, its token, `extra`.

    The worker (for its own error messages) and the run process both use this list, so an
    identifier scrubbed from a step's log is scrubbed from the run's final error too.
    """
    return [s for s in (org.org_id, org.access_token, org.username, org.instance_url, *extra)
            if s]


@dataclass
class RunSpec:
    """Everything the child needs; nothing in here refers to Django."""

    kind: RunKind
    repo_dir: str
    steps: list[StepInput]
    org: OrgInput
    home_dir: str  # HOME for the child: CumulusCI writes ~/.cumulusci there
    plan_checks: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # scrubbed besides run_secrets(org)
    log_flush_seconds: float = 0.5
    name: str = "plandeploy"


# Events sent from the child to the parent, in order. All text is already scrubbed.


@dataclass
class StepStarted:
    step_id: str


@dataclass
class StepLog:
    """A batch of log lines. `step_id` is None for flow-level lines (setup, preflight)."""

    step_id: str | None
    text: str


@dataclass
class StepFinished:
    step_id: str
    status: StepStatus
    message: str | None = None


@dataclass
class PreflightResults:
    """Check results keyed by step_id, plan-level ones under "plan"."""

    results: dict[str, list[dict[str, Any]]]


@dataclass
class FlowFinished:
    outcome: FlowOutcome
    error: str | None = None


Event = StepStarted | StepLog | StepFinished | PreflightResults | FlowFinished


@dataclass
class ProcessExited:
    """Sent on a run's pipe by the project process that forked the run, once it has reaped
    it: the worker is not the run's parent, so it cannot learn the exit status itself."""

    exitcode: int  # as multiprocessing reports it: negative for a signal


@dataclass(frozen=True)
class RunResult:
    """What `FlowRunner.run` returns.

    `outcome` is "timeout" when the time limit killed the run; callers usually report that as
    canceled with a time-limit message (`error` holds one).
    """

    outcome: RunOutcome
    error: str | None = None
