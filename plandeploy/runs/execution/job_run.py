"""A plan run (Job): its selected steps, JOB_STARTED, and a failed scratch org's deletion."""

from __future__ import annotations

from plandeploy import queue
from plandeploy.hashids import encode
from plandeploy.runs.execution.base import Run
from plandeploy.runs.models import CANCELED_MESSAGE, Job
from plandeploy.runs.notify import event_payload
from plandeploy.runs.scratch_org_removal import installation_failed


class JobRun(Run):
    model = Job
    kind = "flow"
    log_event = "job"
    canceled_message = CANCELED_MESSAGE

    @staticmethod
    def make_public_id(pk: int) -> str:
        return encode(pk)

    def selected_steps_of(self) -> int | None:
        return self.pk

    def started_announcement(self) -> str | None:
        return event_payload("JOB_STARTED", "job", self.public_id)

    def on_failed(self) -> None:
        # A failed installation on a scratch org deletes the org (the job stays).
        installation_failed(self.pk)


def run_job(job_pk: int, context: queue.JobContext | None) -> str:
    """Run the job's plan; returns its final status ("missing" if the row is gone)."""
    return JobRun(job_pk, context).execute()
