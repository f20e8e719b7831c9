"""Runs plan steps or preflight checks with CumulusCI in an isolated, pre-warmed child process."""

from plandeploy.flowrunner.runner import FlowRunner
from plandeploy.flowrunner.types import (
    Event,
    FlowFinished,
    OrgInput,
    PreflightResults,
    RunResult,
    RunSpec,
    StepFinished,
    StepInput,
    StepLog,
    StepStarted,
    run_secrets,
)

__all__ = [
    "Event",
    "FlowFinished",
    "FlowRunner",
    "OrgInput",
    "PreflightResults",
    "RunResult",
    "RunSpec",
    "StepFinished",
    "StepInput",
    "StepLog",
    "StepStarted",
    "run_secrets",
]
