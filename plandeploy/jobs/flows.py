"""run_flows_job, preflight_job and fail_stalled_jobs: the task wrappers of plan runs.

The run itself (plandeploy.runs.execution) hands a RunSpec to the worker's FlowRunner, whose
forkserver preloads CumulusCI (not Django), and writes the child's events to the run's row.
"""

from __future__ import annotations

from plandeploy import queue, taskdefs
from plandeploy.runs.execution.job_run import run_job
from plandeploy.runs.execution.preflight_run import run_preflight
from plandeploy.runs.execution.stalled import end_stalled_runs


@taskdefs.run_flows_job.implement(pass_context=True)
def run_flows_job(context: queue.JobContext, job_pk: int) -> str:
    """Runs a plan against a CumulusCI org."""
    return run_job(job_pk, context)


@taskdefs.preflight_job.implement(pass_context=True)
def preflight_job(context: queue.JobContext, preflight_pk: int) -> str:
    """Runs preflight checks against an org."""
    return run_preflight(preflight_pk, context)


@taskdefs.fail_stalled_jobs.implement(schedule="fail_stalled_jobs")
def fail_stalled_jobs(timestamp: int | None = None) -> int:
    """End the runs of crashed workers (and any run whose queue job is gone) as interrupted."""
    return end_stalled_runs()
