"""A preflight (PreflightResult): every step's checks, and the plan's, against the org."""

from __future__ import annotations

from plandeploy import queue
from plandeploy.flowrunner import RunResult, RunSpec
from plandeploy.runs.execution.base import Run
from plandeploy.runs.models import PreflightResult

PREFLIGHT_CANCELED_MESSAGE = "Preflight canceled."


class PreflightRun(Run):
    model = PreflightResult
    kind = "preflight"
    log_event = "preflight"
    canceled_message = PREFLIGHT_CANCELED_MESSAGE

    def _run(self, spec: RunSpec) -> RunResult:
        # A preflight's checks report no step starts: it is running once its checkout is
        # done and its process starts (the waiting time is then told apart from the run's).
        self.started = True
        self.writer.flush(mark_started=True)
        return super()._run(spec)


def run_preflight(preflight_pk: int, context: queue.JobContext | None = None) -> str:
    """Run the preflight in the calling task; returns its final status.

    preflight_job calls it, and create_scratch_org for its org's first preflight.
    """
    return PreflightRun(preflight_pk, context).execute()
