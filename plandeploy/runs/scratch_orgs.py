"""Creating a scratch org of org type `local`, a fresh workspace that expires (orgs.scratch).

- `POST /api/plans/<id>/scratch_org/` inserts the row (`started`) and defers create_scratch_org
  in one transaction.
- create() records where the workspace goes (and forgets the e-mail) before it makes
  anything, checks out the product at the commit-ish the plan's steps run from (plan, else
  version), creates the workspace and moves the org to `complete` (SCRATCH_ORG_CREATED).
  Then, if the plan has checks, it announces PREFLIGHT_STARTED *before* running them in this
  task, so a client can follow the preflight from its start; if every step is required and
  the preflight found no error, it creates the installation job through the same service as
  the API and announces JOB_STARTED.
- Any failure: `failed`, SCRATCH_ORG_ERROR with a readable message, then the workspace and the
  row are removed (plandeploy.runs.scratch_org_removal), whatever stage it got to, so that no
  workspace is left behind.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from plandeploy import logs, queue, repos
from plandeploy.catalog.models import Plan
from plandeploy.catalog.texts import tr
from plandeploy.orgs import devhub, scratch, workspaces
from plandeploy.runs import scratch_requests, services
from plandeploy.runs.execution.preflight_run import run_preflight
from plandeploy.runs.models import ScratchOrg, Status
from plandeploy.runs.notify import notify
from plandeploy.runs.scratch_org_removal import remove_scratch_orgs, request_deletion
from plandeploy.runs.status import transition
from plandeploy.scrub import scrub

logger = logging.getLogger(__name__)

CREATION_INTERRUPTED_MESSAGE = (
    "The scratch org could not be created: its creation was interrupted."
)


class _Abandoned(Exception):
    """The org was deleted (or failed) by someone else while it was being created."""


def create(org_pk: int, context: queue.JobContext | None = None) -> str:
    """Create the org, then run its preflight and installation when the plan calls for it."""
    if scratch_requests.backend() == "salesforce":
        return _create_on_devhub(org_pk, context)
    claim = _claim(org_pk)
    if isinstance(claim, str):
        return claim
    org, planned, email = claim
    logs.bind(org_id_hash=logs.org_id_hash(planned.org_id))
    completed = False
    message: str | None = CREATION_INTERRUPTED_MESSAGE
    try:
        _build(org, planned, email)
        completed = True
    except _Abandoned:
        message = None
    except repos.CheckoutTimeout:
        message = f"The scratch org could not be created: {queue.limit_message('default')}"
    except (repos.CheckoutError, scratch.ScratchOrgError) as exc:
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
    return _set_up(org, org_pk, context, planned.workspace)


def _set_up(org: ScratchOrg, org_pk: int, context: queue.JobContext | None,
            workspace: Path | None) -> str:
    try:
        _follow_up(org_pk, context)
    except Exception as exc:
        logger.exception("scratch org %s: preflight or installation errored", org.hashid)
        _fail(org, workspace, f"The scratch org could not be set up: "
                              f"{type(exc).__name__}: {exc}")
        return "failed"
    finally:
        if workspace is not None and not ScratchOrg.objects.filter(pk=org_pk).exists():
            # Deleted while its preflight ran: a check must not have re-created the directory.
            scratch.remove(workspace)
    return "complete"


def _lock_started(org_pk: int) -> ScratchOrg | str:
    """The org's row, locked, if its creation is still to do; else why not ("missing" or
    the status it reached)."""
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
    return org


def _create_on_devhub(org_pk: int, context: queue.JobContext | None) -> str:
    """A scratch org from the Dev Hub: the same life as a local one, made by Salesforce.

    The e-mail goes from the row before the Dev Hub is asked and lives only in this call.
    A failure or a timeout leaves nothing on the Dev Hub (orgs.devhub cleans up there) and
    nothing here (_fail removes the row)."""
    with transaction.atomic():
        org = _lock_started(org_pk)
        if isinstance(org, str):
            return org
        interrupted = (org.config or {}).get("org_type") == "salesforce"
        email = org.email
        if not interrupted:
            ScratchOrg.objects.filter(pk=org_pk).update(
                email=None, config={"org_type": "salesforce"}, edited_at=timezone.now(),
            )
    if interrupted:
        # An earlier creation died with its worker: it ends as failed, as a local one does.
        _fail(org, None, CREATION_INTERRUPTED_MESSAGE)
        return "failed"
    completed = False
    message: str | None = CREATION_INTERRUPTED_MESSAGE
    try:
        plan = org.plan
        remaining = queue.remaining_seconds()
        timeout = float(settings.DEVHUB_CREATE_TIMEOUT_SECONDS)
        if remaining is not None:
            timeout = min(timeout, max(remaining - 5.0, 0.0))
        org_name = _org_name(plan)
        created = devhub.create_scratch_org(
            duration_days=plan.scratch_org_duration, admin_email=email,
            org_name=org_name, timeout=timeout,
        )
        config: dict[str, Any] = {
            "org_type": "salesforce",
            "instance_url": created.instance_url,
            "username": created.username,
            "org_name": org_name,
            "org_config_name": plan.org_config_name,
            "commit_ish": plan.commit_ish or plan.version.commit_ish or None,
        }
        expires_at = timezone.now() + timedelta(days=plan.scratch_org_duration)
        if not transition(ScratchOrg, org.pk, Status.COMPLETE, org_id=created.org_id,
                          config=config, expires_at=expires_at,
                          access_token=created.access_token,
                          refresh_token=created.refresh_token):
            devhub.delete_scratch_org(created.org_id)
            raise _Abandoned()
        completed = True
    except _Abandoned:
        message = None
    except devhub.DevHubError as exc:
        message = str(exc)
    except Exception as exc:
        logger.exception("scratch org %s: creation on the Dev Hub errored", org.hashid)
        message = f"The scratch org could not be created: {type(exc).__name__}"
    finally:
        if not completed:
            _fail(org, None, message)
    if not completed:
        return "failed"
    return _set_up(org, org_pk, context, None)


def _org_name(plan: Plan) -> str:
    """The name a scratch org of `plan` is given, on a Dev Hub and locally alike; at most 80
    characters, the Dev Hub's limit, so the name recorded is the one the org has."""
    return f"Scratch org for {tr(plan, 'title')}"[:80]


def _claim(org_pk: int) -> tuple[ScratchOrg, scratch.PlannedScratchOrg, str | None] | str:
    """Fix the workspace path in the row and drop the e-mail, before anything is created.

    From here on every cleanup (this task's, a deletion's, expiry's) knows the directory,
    and no personal data stays in the database whatever happens next.
    """
    with transaction.atomic():
        org = _lock_started(org_pk)
        if isinstance(org, str):
            return org
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
                email=None, config={"workspace": workspaces.stored(planned.workspace)},
                edited_at=timezone.now(),
            )
    if leftover is not None:
        _fail(leftover[0], leftover[1], CREATION_INTERRUPTED_MESSAGE)
        return "failed"
    return org, planned, email


def _build(org: ScratchOrg, planned: scratch.PlannedScratchOrg, email: str | None) -> None:
    plan = org.plan
    # The same checkout (and commit-ish rule) as the plan's steps: an org built from another
    # commit than the one its installation runs would not match it.
    version = plan.version
    remaining = queue.remaining_seconds()
    repo_dir = repos.checkout_product(
        version.product.repo_url, plan.commit_ish or version.commit_ish,
        deadline=None if remaining is None else time.monotonic() + remaining,
    )
    commit = repos.commit_of(repo_dir)
    expires_at = timezone.now() + timedelta(days=plan.scratch_org_duration)
    scratch.create(planned, repo_dir=repo_dir, config_name=plan.org_config_name,
                   admin_email=email, expires_at=expires_at, commit=commit)
    config: dict[str, Any] = {
        "workspace": workspaces.stored(planned.workspace),
        "username": planned.username,
        "org_name": _org_name(plan),
        "org_config_name": plan.org_config_name,
        "commit_ish": plan.commit_ish or plan.version.commit_ish or None,
        "commit": commit,
    }
    if not transition(ScratchOrg, org.pk, Status.COMPLETE, org_id=planned.org_id,
                      config=config, expires_at=expires_at):
        raise _Abandoned()


def _follow_up(org_pk: int, context: queue.JobContext | None) -> None:
    """Auto-preflight and auto-install, as the plan calls for them."""
    org = ScratchOrg.objects.select_related("plan").filter(pk=org_pk).first()
    if org is None or org.status != Status.COMPLETE:
        return
    plan = org.plan
    steps = list(plan.steps.order_by("step_num_key"))
    if plan.requires_preflight:
        with transaction.atomic():
            preflight = services.create_preflight(
                plan=plan, org_id=org.org_id,
                carried_by=context.job.id if context is not None and context.job else None,
            )
            # Announced before it runs, so a client can follow it from the start.
            notify("PREFLIGHT_STARTED", "scratchorg", org.hashid, preflight=str(preflight.pk))
        run_preflight(preflight.pk, context)
        preflight.refresh_from_db()
        if preflight.status != Status.COMPLETE or preflight.error_count:
            # A preflight that found errors (or did not finish) installs nothing.
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
