"""Requesting a scratch org: the row and its create_scratch_org deferral, within the queue limit."""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from plandeploy import queue, taskdefs
from plandeploy.catalog.models import Plan, SupportedOrgs
from plandeploy.orgs import devhub, salesforce
from plandeploy.runs import services
from plandeploy.runs.execution.spec import RunSetupError, scratch_access_token
from plandeploy.runs.models import ScratchOrg


class ScratchOrgsDisabled(Exception):
    """This site does not create scratch orgs."""


class ScratchOrgsUnsupported(Exception):
    """The plan cannot be installed into a scratch org."""


class QueueFull(Exception):
    """The queue already holds MAX_QUEUE_LENGTH waiting jobs."""


def backend() -> str | None:
    """Where this site's scratch orgs come from: "salesforce" (a Dev Hub, where ORG_TYPES
    offers salesforce and DEVHUB_USERNAME, SFDX_HUB_KEY and the connected app are set),
    else "local" (workspaces, where ORG_TYPES offers local), else None (none at all)."""
    if not settings.SCRATCH_ORGS_ENABLED:
        return None
    if settings.SALESFORCE_ENABLED and devhub.available():
        return "salesforce"
    return "local" if settings.LOCAL_ORGS_OFFERED else None


def available() -> bool:
    return backend() is not None


def ensure_available() -> None:
    """Raises ScratchOrgsDisabled when this site creates no scratch orgs (checked first)."""
    if not available():
        raise ScratchOrgsDisabled()


def ensure_plan_supports(plan: Plan, user) -> None:
    """Raises services.PlanNotAllowed or ScratchOrgsUnsupported."""
    services.check_may_install(plan, user)
    if plan.supported_orgs not in (SupportedOrgs.SCRATCH, SupportedOrgs.BOTH):
        raise ScratchOrgsUnsupported()


def request_scratch_org(*, plan: Plan, user, email: str) -> ScratchOrg:
    """Insert a `started` scratch org for `plan` and defer its creation.

    Raises ScratchOrgsDisabled, services.PlanNotAllowed, ScratchOrgsUnsupported or QueueFull.
    """
    ensure_available()
    ensure_plan_supports(plan, user)
    task = taskdefs.create_scratch_org
    with transaction.atomic():
        # One lock for count + insert: a burst cannot push the queue past its limit.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"queue:{task.queue}"])
        if queue.queue_length(task.queue) >= settings.MAX_QUEUE_LENGTH:
            raise QueueFull()
        scratch_org = ScratchOrg.objects.create(plan=plan, email=email)
        job_id = task.defer(org_pk=scratch_org.pk)
        now = timezone.now()
        ScratchOrg.objects.filter(pk=scratch_org.pk).update(job_id=job_id, enqueued_at=now)
        scratch_org.job_id, scratch_org.enqueued_at = job_id, now
    return scratch_org


def front_door_url(scratch_org: ScratchOrg) -> str | None:
    """Where "View org" sends the session that owns a complete Dev Hub scratch org (a fresh
    token in a front-door URL); None for a local org or when the org cannot be reached."""
    config = scratch_org.config or {}
    if config.get("org_type") != "salesforce" or not config.get("instance_url"):
        return None
    try:
        token = scratch_access_token(scratch_org)
    except RunSetupError:
        return None
    return salesforce.front_door_url(config["instance_url"], token) if token else None
