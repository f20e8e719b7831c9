"""Deleting scratch orgs (admin site, failed installation, expiry): runs, then files, then rows.

The org is first marked `failed` so that no new run may start on it, its runs are cancelled,
then the workspace and finally the row go (SCRATCH_ORG_DELETED). Every step is idempotent;
jobs and preflights keep their org_id. Expiry also removes workspaces whose row went without
them (ScratchOrg.plan is CASCADE).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from plandeploy import queue, taskdefs
from plandeploy.accounts.models import FullOrgType
from plandeploy.hashids import encode
from plandeploy.orgs import devhub, scratch, workspaces
from plandeploy.runs import services
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status
from plandeploy.runs.notify import notify_many
from plandeploy.runs.status import transition, transition_many

logger = logging.getLogger(__name__)

# Orgs the expiry job removes per transaction; the next batch follows in the same run.
EXPIRE_BATCH = 200
# How often a deletion re-reads whether the org's cancelled runs have ended.
RUN_POLL_SECONDS = 0.2


def delete_wait_seconds() -> float:
    """Long enough for a cancelled run to stop (its grace, then the kill) and report back."""
    return float(settings.CANCEL_GRACE_SECONDS) + 15.0


def delete(org_pk: int) -> str:
    """Delete one org, waiting a while for its runs to stop: "deleted", "missing", "waiting"."""
    removed, waiting = remove_scratch_orgs([org_pk], wait_seconds=delete_wait_seconds())
    if waiting:
        # Marked failed and its runs asked to stop; expire_scratch_orgs finishes the job.
        logger.warning("scratch org %s still has a run; its deletion is left to expiry",
                       encode(org_pk))
        return "waiting"
    return "deleted" if removed else "missing"


def request_deletion(org_pk: int) -> bool:
    """Defer delete_scratch_org for the org (in the caller's transaction); False if queued."""
    name = taskdefs.delete_scratch_org.name
    return taskdefs.delete_scratch_org.defer_unless_queued(
        f"{name}:{org_pk}", org_pk=org_pk
    ) is not None


def installation_failed(job_pk: int) -> None:
    """A scratch org whose installation failed is deleted; the job keeps its org_id.

    Called by run_flows_job in the transaction that ends the job. A cancelled or
    interrupted run is not a failure: its org stays for another try.
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
            if (row["config"] or {}).get("org_type") == "salesforce" and row["org_id"]:
                # On the Dev Hub first: a row deleted before its org would leak the org.
                devhub.delete_scratch_org(row["org_id"])
        except Exception as exc:
            logger.warning("scratch org %s: the Dev Hub did not delete it (%s); expiry retries",
                           encode(row["pk"]), type(exc).__name__)
            waiting.append(row["pk"])
            continue
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
        paths.append(workspaces.resolve(recorded))
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
