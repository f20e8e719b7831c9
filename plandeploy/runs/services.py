"""Creating and cancelling runs: the one path the API and the jobs both use."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from plandeploy import queue, taskdefs
from plandeploy.accounts.models import FullOrgType
from plandeploy.catalog.models import ClickThroughAgreement, Plan, Step
from plandeploy.runs.models import CANCELED_MESSAGE, Job, PreflightResult, ScratchOrg, Status
from plandeploy.runs.notify import notify
from plandeploy.runs.status import transition


class OrgBusy(Exception):
    """Another plan run is already `started` on this org."""

    def __init__(self, job_id: str | None = None):
        super().__init__(job_id)
        self.job_id = job_id


def create_job(
    *,
    plan: Plan,
    steps: Iterable[Step],
    user=None,
    scratch_org: ScratchOrg | None = None,
    is_public: bool = False,
    results: dict | None = None,
) -> Job:
    """Insert the job, its steps and its enqueuer_job deferral in one transaction.

    Raises OrgBusy when the org already has a started job (a database constraint,
    so two concurrent requests cannot both succeed).
    """
    if scratch_org is not None:
        org_fields = {"org_id": scratch_org.org_id, "full_org_type": FullOrgType.SCRATCH}
    else:
        org_fields = {
            "org_id": user.org_id,
            "org_type": user.org_type or "",
            "full_org_type": user.full_org_type,
        }
    agreement_text = plan.version.product.click_through_agreement
    try:
        with transaction.atomic():
            job = Job.objects.create(
                user=user if scratch_org is None else None,
                plan=plan,
                is_public=is_public,
                results=results or {},
                click_through_agreement=(
                    ClickThroughAgreement.objects.create(text=agreement_text)
                    if agreement_text else None
                ),
                **org_fields,
            )
            job.steps.set(list(steps))
            taskdefs.enqueuer_job.defer_or_join(job_pk=job.pk)
            notify("ORG_CHANGED", "org", job.org_id)
    except IntegrityError as exc:
        if "job_one_running_per_org" not in str(exc):
            raise
        running = (
            Job.objects.filter(org_id=org_fields["org_id"], status=Status.STARTED)
            .values_list("pk", flat=True)
            .first()
        )
        raise OrgBusy(Job(pk=running).hashid if running else None) from None
    return job


def create_preflight(*, plan: Plan, org_id: str, user=None) -> PreflightResult:
    """Insert the preflight and its preflight_job deferral in one transaction."""
    with transaction.atomic():
        preflight = PreflightResult.objects.create(plan=plan, org_id=org_id, user=user)
        job_id = taskdefs.preflight_job.defer(preflight_pk=preflight.pk)
        PreflightResult.objects.filter(pk=preflight.pk).update(job_id=job_id)
        preflight.job_id = job_id
        notify("ORG_CHANGED", "org", org_id)
    return preflight


def request_cancel_job(job: Job) -> bool:
    """Cancel a run: at once if it has not started, else by aborting it on its worker."""
    return _request_cancel(Job, job.pk)


def request_cancel_preflight(preflight: PreflightResult) -> bool:
    return _request_cancel(PreflightResult, preflight.pk)


def _request_cancel(model, pk) -> bool:
    """Record the request in the database (it outlives any cache) and act on it.

    Returns False when the run had already ended.
    """
    with transaction.atomic():
        row = model.objects.select_for_update().filter(pk=pk, status=Status.STARTED).first()
        if row is None:
            return False
        if row.cancel_requested_at is None:
            model.objects.filter(pk=pk).update(cancel_requested_at=timezone.now())
        never_ran = row.job_id is None or queue.cancel(row.job_id)
        if never_ran:
            # Nothing has run: no worker will report back, so end it here.
            transition(model, pk, Status.CANCELED, exception=CANCELED_MESSAGE)
        else:
            queue.abort(row.job_id)
    return True
