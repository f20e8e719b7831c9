"""Requesting a scratch org: the row and its create_scratch_org deferral, within the queue limit."""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from plandeploy import queue, taskdefs
from plandeploy.catalog.models import Plan, SupportedOrgs
from plandeploy.runs import services
from plandeploy.runs.models import ScratchOrg


class ScratchOrgsDisabled(Exception):
    """This site does not create scratch orgs."""


class ScratchOrgsUnsupported(Exception):
    """The plan cannot be installed into a scratch org."""


class QueueFull(Exception):
    """The queue already holds MAX_QUEUE_LENGTH waiting jobs."""


def available() -> bool:
    """Whether this site creates scratch orgs: they are local workspaces, so only where the
    local org type is offered."""
    return bool(settings.SCRATCH_ORGS_ENABLED and settings.LOCAL_ORGS_OFFERED)


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
