"""create_scratch_org, delete_scratch_org and expire_scratch_orgs: scratch orgs of org type `local`.

A scratch org is a fresh local workspace that expires (plandeploy.orgs.scratch). Its life:

- `POST /api/plans/<id>/scratch_org/` inserts the row (`started`) and defers create_scratch_org
  in one transaction.
- create_scratch_org records where the workspace goes (and forgets the e-mail) before it makes
  anything, checks out the product at the plan's commit-ish (plan, else version: W15), creates
  the workspace and moves the org to `complete` (SCRATCH_ORG_CREATED). Then, if the plan has
  checks, it announces PREFLIGHT_STARTED *before* running them in this task (W17); if every
  step is required and the preflight found no error (W16), it creates the installation job
  through the same service as the API and announces JOB_STARTED.
- Any failure: `failed`, SCRATCH_ORG_ERROR with a readable message, then the workspace and the
  row are removed (W18), whatever stage it got to.
- Deleting (admin site, failed installation, expiry): the org is first marked `failed` so that
  no new run may start on it, its runs are cancelled, then the workspace and finally the row go
  (SCRATCH_ORG_DELETED). Every step is idempotent; jobs and preflights keep their org_id.
  Expiry also removes workspaces whose row went without them (ScratchOrg.plan is CASCADE).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from plandeploy import queue, taskdefs
from plandeploy.accounts.models import FullOrgType
from plandeploy.hashids import encode
from plandeploy.jobs import flows
from plandeploy.orgs import scratch
from plandeploy.runs import services
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status
from plandeploy.runs.notify import notify, notify_many
from plandeploy.runs.status import transition, transition_many
from plandeploy.scrub import scrub

logger = logging.getLogger(__name__)

INTERRUPTED_MESSAGE = "The scratch org could not be created: its creation was interrupted."
# Orgs the expiry job removes per transaction; the next batch follows in the same run.
EXPIRE_BATCH = 200
# How often a deletion re-reads whether the org's cancelled runs have ended.
RUN_POLL_SECONDS = 0.2
_SHA = re.compile(r"^[0-9a-f]{40}$")


# -- the jobs ---------------------------------------------------------------------------------


@taskdefs.create_scratch_org.implement(pass_context=True)
def create_scratch_org(context: queue.JobContext, org_pk: int) -> str:
    """Create a scratch org. Under some circumstances it will also run plan steps."""
    return create(org_pk, context)


@taskdefs.delete_scratch_org.implement()
def delete_scratch_org(org_pk: int) -> str:
    """Delete a Scratch org."""
    removed, waiting = remove_scratch_orgs([org_pk], wait_seconds=delete_wait_seconds())
    if waiting:
        # Marked failed and its runs asked to stop; expire_scratch_orgs finishes the job.
        logger.warning("scratch org %s still has a run; its deletion is left to expiry",
                       encode(org_pk))
        return "waiting"
    return "deleted" if removed else "missing"


@taskdefs.expire_scratch_orgs.implement(schedule="expire_scratch_orgs")
def expire_scratch_orgs(timestamp: int | None = None) -> dict[str, int]:
    """Delete scratch orgs past expires_at, failed ones, and ones whose creation died."""
    return run_expire_scratch_orgs()


def delete_wait_seconds() -> float:
    """Long enough for a cancelled run to stop (its grace, then the kill) and report back."""
    return float(settings.CANCEL_GRACE_SECONDS) + 15.0


# -- creation ---------------------------------------------------------------------------------


class _Abandoned(Exception):
    """The org was deleted (or failed) by someone else while it was being created."""


def create(org_pk: int, context: queue.JobContext | None = None) -> str:
    """Create the org, then run its preflight and installation when the plan calls for it."""
    claim = _claim(org_pk)
    if isinstance(claim, str):
        return claim
    org, planned, email = claim
    completed = False
    message: str | None = INTERRUPTED_MESSAGE
    try:
        _build(org, planned, email)
        completed = True
    except _Abandoned:
        message = None
    except (flows.RunSetupError, scratch.ScratchOrgError) as exc:
        message = f"The scratch org could not be created: {exc}"
    except Exception as exc:
        logger.exception("scratch org %s: creation errored", org.hashid)
        message = f"The scratch org could not be created: {type(exc).__name__}: {exc}"
    finally:
        # Also on BaseException (the task cancelled, the interpreter exiting): nothing stays.
        if not completed:
            _fail(org, planned.workspace, message)
    if not completed:
        return "failed"
    try:
        _follow_up(org_pk, context)
    except Exception as exc:
        logger.exception("scratch org %s: preflight or installation errored", org.hashid)
        _fail(org, planned.workspace, f"The scratch org could not be set up: "
                                       f"{type(exc).__name__}: {exc}")
        return "failed"
    finally:
        if not ScratchOrg.objects.filter(pk=org_pk).exists():
            # Deleted while its preflight ran: a check must not have re-created the directory.
            scratch.remove(planned.workspace)
    return "complete"


def _claim(org_pk: int) -> tuple[ScratchOrg, scratch.PlannedScratchOrg, str | None] | str:
    """Fix the workspace path in the row and drop the e-mail, before anything is created.

    From here on every cleanup (this task's, a deletion's, expiry's) knows the directory,
    and no personal data stays in the database whatever happens next.
    """
    with transaction.atomic():
        org = (
            ScratchOrg.objects.select_for_update(of=("self",))
            .select_related("plan__version__product")
            .filter(pk=org_pk)
            .first()
        )
        if org is None:
            return "missing"
        if org.status != Status.STARTED:
            return org.status
        previous = (org.config or {}).get("workspace")
        if previous:
            # A creation of this org already began and died (a crashed worker): start over
            # is not safe, so it ends as failed and is removed like any failed creation.
            leftover = (org, previous)
        else:
            leftover = None
            planned = scratch.plan_scratch_org()
            email = org.email
            ScratchOrg.objects.filter(pk=org_pk).update(
                email=None, config={"workspace": str(planned.workspace)},
                edited_at=timezone.now(),
            )
    if leftover is not None:
        _fail(leftover[0], leftover[1], INTERRUPTED_MESSAGE)
        return "failed"
    return org, planned, email


def _build(org: ScratchOrg, planned: scratch.PlannedScratchOrg, email: str | None) -> None:
    plan = org.plan
    # The same checkout (and commit-ish rule) as the plan's steps: W15.
    repo_dir = flows.checkout_plan(plan)
    commit = commit_of(repo_dir)
    expires_at = timezone.now() + timedelta(days=plan.scratch_org_duration)
    scratch.create(planned, repo_dir=repo_dir, config_name=plan.org_config_name,
                   admin_email=email, expires_at=expires_at, commit=commit)
    config: dict[str, Any] = {
        "workspace": str(planned.workspace),
        "username": planned.username,
        "org_name": f"Scratch org for {plan.safe_translation_getter('title', any_language=True)}",
        "org_config_name": plan.org_config_name,
        "commit_ish": plan.commit_ish or plan.version.commit_ish or None,
        "commit": commit,
    }
    if not transition(ScratchOrg, org.pk, Status.COMPLETE, org_id=planned.org_id,
                      config=config, expires_at=expires_at):
        raise _Abandoned()


def commit_of(repo_dir: Path) -> str | None:
    """The sha a checkout is at: checkouts of a git repository live under their sha."""
    repo_dir = Path(repo_dir)
    cache = Path(settings.REPO_CACHE_ROOT).resolve()
    if repo_dir.resolve().parent == cache and _SHA.match(repo_dir.name):
        return repo_dir.name
    return None  # a plain directory (development mode) has no commit


def _follow_up(org_pk: int, context: queue.JobContext | None) -> None:
    """Auto-preflight and auto-install, as the plan calls for them."""
    org = ScratchOrg.objects.select_related("plan").filter(pk=org_pk).first()
    if org is None or org.status != Status.COMPLETE:
        return
    plan = org.plan
    steps = list(plan.steps.order_by("step_num_key"))
    if plan.requires_preflight:
        with transaction.atomic():
            preflight = PreflightResult.objects.create(
                plan=plan, org_id=org.org_id, user=None,
                # This task carries the run: a cancel of the preflight aborts it, and the
                # crashed-worker sweep sees the run end with it.
                job_id=context.job.id if context is not None and context.job else None,
            )
            # W17: announced before it runs, so a client can follow it from the start.
            notify("PREFLIGHT_STARTED", "scratchorg", org.hashid, preflight=str(preflight.pk))
            notify("ORG_CHANGED", "org", org.org_id)
        flows.run_preflight_now(preflight.pk, context)
        preflight.refresh_from_db()
        if preflight.status != Status.COMPLETE or preflight.error_count:
            # W16: a preflight that found errors (or did not finish) installs nothing.
            return
    if not all(step.is_required for step in steps):
        return  # the user picks the optional steps
    with transaction.atomic():
        still_here = ScratchOrg.objects.select_for_update().filter(
            pk=org_pk, status=Status.COMPLETE
        ).first()
        if still_here is None:
            return  # deleted meanwhile: no run for an org that is going away
        job = services.create_job(plan=plan, steps=steps, scratch_org=still_here)
        notify("JOB_STARTED", "scratchorg", org.hashid, job=job.hashid)


def _fail(org: ScratchOrg, workspace: str | Path | None, message: str | None) -> None:
    """Announce the failure (unless the org was taken away from us), then remove everything."""
    try:
        if message is not None:
            text = scrub(message)
            with transaction.atomic():
                if transition(ScratchOrg, org.pk, Status.FAILED):
                    notify("SCRATCH_ORG_ERROR", "scratchorg", org.hashid, org=org.hashid,
                           plan=org.plan.hashid, message=text)
    finally:
        try:
            scratch.remove(workspace)
        finally:
            removed, waiting = remove_scratch_orgs([org.pk])
            if waiting:
                request_deletion(org.pk)


# -- deletion ---------------------------------------------------------------------------------


def request_deletion(org_pk: int) -> bool:
    """Defer delete_scratch_org for the org (in the caller's transaction); False if queued."""
    name = taskdefs.delete_scratch_org.name
    return taskdefs.delete_scratch_org.defer_unless_queued(
        f"{name}:{org_pk}", org_pk=org_pk
    ) is not None


def installation_failed(job_pk: int) -> None:
    """A scratch org whose installation failed is deleted; the job keeps its org_id.

    Called by run_flows_job in the transaction that ends the job. A cancelled or
    interrupted run is not a failure: its org stays for another try (W4).
    """
    org_id = (
        Job.objects.filter(pk=job_pk, user__isnull=True, full_org_type=FullOrgType.SCRATCH)
        .values_list("org_id", flat=True)
        .first()
    )
    org_pk = (
        ScratchOrg.objects.filter(org_id=org_id).values_list("pk", flat=True).first()
        if org_id else None
    )
    if org_pk is None:
        return
    transition(ScratchOrg, org_pk, Status.FAILED)
    request_deletion(org_pk)


def remove_scratch_orgs(
    pks: Iterable[int], *, wait_seconds: float = 0.0
) -> tuple[list[int], list[int]]:
    """Delete scratch orgs: mark them failed, stop their runs, remove workspaces, then rows.

    Returns (removed pks, pks left because a run on the org has not ended yet). Orgs that
    are already gone are neither: calling this twice is harmless.
    """
    rows = list(ScratchOrg.objects.filter(pk__in=list(pks)).values("pk", "org_id", "config"))
    if not rows:
        return [], []
    # No new preflight or job may start on an org that is going away (the API runs only
    # on `complete` orgs), and a creation still under way will not complete it.
    transition_many(ScratchOrg, [row["pk"] for row in rows], Status.FAILED)
    busy = _stop_runs([row["org_id"] for row in rows if row["org_id"]], wait_seconds)
    ready = [row for row in rows if row["org_id"] not in busy]
    waiting = [row["pk"] for row in rows if row["org_id"] in busy]
    gone_from_disk = []
    for row in ready:
        try:
            for path in _workspaces_of(row):
                scratch.remove(path)
        except OSError:
            logger.exception("scratch org %s: its workspace could not be removed",
                             encode(row["pk"]))
            waiting.append(row["pk"])
            continue
        gone_from_disk.append(row["pk"])
    if not gone_from_disk:
        return [], waiting
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {ScratchOrg._meta.db_table} WHERE id = ANY(%s) RETURNING id",
            [gone_from_disk],
        )
        removed = [row[0] for row in cursor.fetchall()]
        notify_many("SCRATCH_ORG_DELETED", "scratchorg", [encode(pk) for pk in removed])
    return removed, waiting


def _workspaces_of(row: dict[str, Any]) -> list[Path]:
    paths = []
    recorded = (row["config"] or {}).get("workspace")
    if scratch.is_scratch_workspace(recorded):
        paths.append(Path(recorded))
    if row["org_id"]:
        paths.append(scratch.scratch_root() / row["org_id"])
    return paths


def _stop_runs(org_ids: list[str], wait_seconds: float) -> set[str]:
    """Cancel the started runs on these orgs; wait for them to end. Returns orgs still busy."""
    if not org_ids:
        return set()
    for model, cancel in ((Job, services.request_cancel_job),
                          (PreflightResult, services.request_cancel_preflight)):
        for run in model.objects.filter(org_id__in=org_ids, status=Status.STARTED,
                                        user__isnull=True):
            cancel(run)
    deadline = time.monotonic() + wait_seconds
    while True:
        busy = _busy_orgs(org_ids)
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(RUN_POLL_SECONDS)


def _busy_orgs(org_ids: list[str]) -> set[str]:
    busy: set[str] = set()
    for model in (Job, PreflightResult):
        busy.update(
            model.objects.filter(org_id__in=org_ids, status=Status.STARTED, user__isnull=True)
            .values_list("org_id", flat=True)
        )
    return busy


# -- expiry -----------------------------------------------------------------------------------


def run_expire_scratch_orgs() -> dict[str, int]:
    """Remove orgs past expires_at, failed orgs (a lost deletion) and orgs whose creation died."""
    _end_stalled_creations()
    removed = waiting = 0
    seen: set[int] = set()
    while True:
        batch = [pk for pk in _expired_batch() if pk not in seen]
        if not batch:
            break
        seen.update(batch)
        done, busy = remove_scratch_orgs(batch)
        removed += len(done)
        waiting += len(busy)
    orphans = remove_orphan_workspaces()
    if removed or waiting or orphans:
        logger.info("expire_scratch_orgs: removed %d, waiting for runs on %d, orphans %d",
                    removed, waiting, orphans)
    return {"removed": removed, "waiting": waiting, "orphans": orphans}


def remove_orphan_workspaces() -> int:
    """Remove scratch workspaces whose row is gone without them (a plan deleted by CASCADE).

    A workspace is named after its org id, which its row carries once the org is complete;
    one still being created has no org id yet, so only directories older than the longest
    a creation may take are considered.
    """
    paths = scratch.leftover_workspaces()
    if not paths:
        return 0
    known = set(
        ScratchOrg.objects.filter(org_id__in=[path.name for path in paths])
        .values_list("org_id", flat=True)
    )
    cutoff = time.time() - float(settings.JOB_TIMEOUT)
    removed = 0
    for path in paths:
        if path.name in known:
            continue
        try:
            if path.lstat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue
        if scratch.remove(path):
            removed += 1
    return removed


def _expired_batch() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id FROM (
                -- One branch per index (scratchorg_expiry, scratchorg_unfinished): an OR
                -- of the three conditions would scan the whole table.
                SELECT s.id FROM {ScratchOrg._meta.db_table} s
                 WHERE s.expires_at IS NOT NULL AND s.expires_at <= now()
                UNION
                SELECT s.id FROM {ScratchOrg._meta.db_table} s
                 WHERE s.status IN ('started', 'failed')
                   AND (s.status = 'failed' OR NOT {queue.live_job_condition("s.job_id")})
            ) due
             ORDER BY id
             LIMIT %s
            """,
            [EXPIRE_BATCH],
        )
        return [row[0] for row in cursor.fetchall()]


def _end_stalled_creations() -> None:
    """Mark create_scratch_org queue jobs of dead workers failed, so their orgs count as dead."""
    with transaction.atomic():
        queue.finish_stalled_jobs([taskdefs.create_scratch_org.name])
