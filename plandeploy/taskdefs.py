"""Every queue job, declared once by name, queue and lock: services defer these, `jobs/` runs them.

The names are the ones users and operators know the jobs by (and CRON_SCHEDULE, logs and
the queue's tables show). Queue `default` carries long work (plan runs, preflights, scratch
orgs); queue `short` carries quick work that must never wait behind it.
"""

from __future__ import annotations

from plandeploy.queue import TaskDef

# Jobs triggered by end users.
run_flows_job = TaskDef(
    "run_flows_job",
    queue="default",
    # procrastinate fetches by priority first: plan runs rank below everything else, so a
    # free slot of a worker that serves `default` together with other work (one pool
    # until idle, a `--queues` of several) goes to that work before the next long run.
    priority=-1,
    self_timed=True,
)
enqueuer_job = TaskDef("enqueuer_job", queue="short")
preflight_job = TaskDef("preflight_job", queue="default", self_timed=True)
create_scratch_org = TaskDef("create_scratch_org", queue="default", self_timed=True)
delete_scratch_org = TaskDef("delete_scratch_org", queue="default")

# Triggered by admins. Queue `short`: a fixed number of bulk queries (about a second for
# 20,000 steps), so it neither waits behind installs nor counts towards MAX_QUEUE_LENGTH.
update_all_translations = TaskDef(
    "update_all_translations", queue="short", lock="update_all_translations"
)

# Scheduled jobs; each carries a lock, so two runs of one never overlap.
cleanup_user_data = TaskDef(
    "cleanup_user_data", queue="short", lock="maintenance:cleanup_user_data"
)
expire_preflight_results = TaskDef(
    "expire_preflight_results", queue="short", lock="maintenance:expire_preflight_results"
)
calculate_average_plan_runtimes = TaskDef(
    "calculate_average_plan_runtimes",
    queue="default",
    lock="maintenance:calculate_average_plan_runtimes",
)
expire_scratch_orgs = TaskDef(
    "expire_scratch_orgs", queue="short", lock="maintenance:expire_scratch_orgs"
)
fail_stalled_jobs = TaskDef("fail_stalled_jobs", queue="short")

# Records that a worker ran it: queue round-trip checks and tests.
ping = TaskDef("ping", queue="short")

# Plan runs and preflights: the jobs that run product code in a flow process.
RUN_TASKS = (run_flows_job.name, preflight_job.name)
