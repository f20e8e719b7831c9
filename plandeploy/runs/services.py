"""Creating and cancelling plan runs and preflights: the rules every caller (API, jobs) obeys."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache as once
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from plandeploy import queue, taskdefs
from plandeploy.accounts.models import FullOrgType
from plandeploy.catalog.models import ClickThroughAgreement, Plan, Step
from plandeploy.catalog.texts import tr
from plandeploy.runs.models import (
    CANCELED_MESSAGE,
    ORG_BUSY_SQLSTATE,
    Job,
    PreflightResult,
    ScratchOrg,
    Status,
)
from plandeploy.runs.notify import execute_announcing, notify
from plandeploy.runs.status import transition
from plandeploy.sqlrows import quote

CONNECTION_LOST = "The connection to your org has been lost. Please log in again."


class Refused(Exception):
    """A run or preflight that may not start; the message is what the caller is told."""

    message = ""

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)

    def __str__(self) -> str:
        return self.args[0]


class PlanNotAllowed(Refused):
    message = "You are not allowed to install this plan."


class NoValidOrg(Refused):
    message = "No valid org."


class NoValidPreflight(Refused):
    message = "No valid preflight."


class InvalidSteps(Refused):
    message = "Invalid steps for plan."


class InvalidResults(Refused):
    message = "Invalid initial results."


class ConnectionLost(Refused):
    message = CONNECTION_LOST


class OrgBusy(Refused):
    """A plan run is already `started` on this org (waiting or running)."""

    def __init__(self, job_id: str | None = None):
        super().__init__(
            f"Pending job {job_id} exists. Please try again later, or cancel that job."
        )
        self.job_id = job_id


class PreflightRunning(Refused):
    """A preflight is already `started` on this org."""

    def __init__(self, preflight_id: int):
        super().__init__(f"Preflight {preflight_id} is already running on this org.")
        self.preflight_id = preflight_id


class NothingToCancel(Exception):
    """No preflight of this plan is running on the org."""


# --- the rules ---------------------------------------------------------------------------


def running_job(org_id: str) -> str | None:
    """The public id of the plan run `started` on the org, if any."""
    pk = (
        Job.objects.filter(org_id=org_id, status=Status.STARTED)
        .values_list("pk", flat=True)
        .first()
    )
    return Job(pk=pk).hashid if pk is not None else None


def org_busy(org_id: str) -> Refused | None:
    """The one org-busy rule: a plan run or a preflight `started` on the org keeps any other
    run and preflight off it (two would fight over the org). The refusal, or None if free.

    The database enforces the same rule (the unique index job_one_running_per_org, and the
    trigger behind ORG_BUSY_SQLSTATE); this read lets a caller hear it in its usual order.
    """
    # One round trip for both, written out: this read is on the path of every run and
    # preflight request, and compiling it through the ORM cost more than running it.
    with connection.cursor() as cursor:
        started = Status.STARTED.value
        cursor.execute(_org_busy_sql(), [org_id, started, org_id, started])
        found = dict(cursor.fetchall())
    if "job" in found:
        return OrgBusy(Job(pk=found["job"]).hashid)
    if "preflight" in found:
        return PreflightRunning(found["preflight"])
    return None


@once
def _org_busy_sql() -> str:
    def started(model, kind: str) -> str:
        meta = model._meta
        return (f"(SELECT '{kind}', {quote(meta.pk.column)} FROM {quote(meta.db_table)}"
                f" WHERE {quote(meta.get_field('org_id').column)} = %s"
                f" AND {quote(meta.get_field('status').column)} = %s LIMIT 1)")

    return f"{started(Job, 'job')} UNION ALL {started(PreflightResult, 'preflight')}"


def ensure_org_free(org_id: str) -> None:
    """Raise OrgBusy or PreflightRunning while a run or a preflight is started on the org."""
    refusal = org_busy(org_id)
    if refusal is not None:
        raise refusal


def _busy_refusal(exc: IntegrityError, org_id: str) -> Refused | None:
    """The refusal a failed insert means when the database refused it as org busy."""
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == ORG_BUSY_SQLSTATE:
        kind, _, pk = (cause.diag.message_detail or "").partition(" ")
        if kind == "job":
            return OrgBusy(Job(pk=int(pk)).hashid)
        return PreflightRunning(int(pk))
    if "job_one_running_per_org" in str(exc):
        return org_busy(org_id) or OrgBusy(running_job(org_id))
    return None


def check_may_install(plan: Plan, user) -> None:
    """Raise PlanNotAllowed unless the plan and its product are both visible to `user`."""
    if not plan.is_visible_to(user):
        raise PlanNotAllowed()
    if not plan.version.product.is_visible_to(user):
        raise PlanNotAllowed("You are not allowed to install this product.")


def _scratch_org_id(plan: Plan, scratch_org: ScratchOrg | None) -> str | None:
    """A scratch org serves only its own plan, and only once it exists (has an org id)."""
    if scratch_org is None or scratch_org.plan_id != plan.pk:
        return None
    if scratch_org.status != Status.COMPLETE or not scratch_org.org_id:
        return None
    return scratch_org.org_id


_OPTIONAL_STATUSES = {"optional", "hide", "skip"}


def _optional_step_ids(results: dict, plan_steps: dict[int, Step]) -> set[int]:
    by_hashid = {step.hashid: pk for pk, step in plan_steps.items()}
    optional = set()
    for key, entries in (results or {}).items():
        if key in by_hashid and isinstance(entries, list) and any(
            isinstance(entry, dict) and entry.get("status") in _OPTIONAL_STATUSES
            for entry in entries
        ):
            optional.add(by_hashid[key])
    return optional


def _valid_initial_results(results: Any, plan_steps: dict[int, Step]) -> bool:
    """Clients may only pre-hide steps of this plan: {"<step id>": [{"status": "hide"}]}.

    Nothing else may ride along (a `logs` or `message` key): the run writer escapes and
    scrubs what it stores there, and text a client planted would skip both.
    """
    if results in (None, {}):
        return True
    if not isinstance(results, dict):
        return False
    hashids = {step.hashid for step in plan_steps.values()}
    for key, entries in results.items():
        if key not in hashids or not isinstance(entries, list):
            return False
        for entry in entries:
            if entry != {"status": "hide"}:
                return False
    return True


# --- plan runs -----------------------------------------------------------------------------


def request_job(
    *,
    plan: Plan,
    steps: Iterable[Step],
    user,
    scratch_org: ScratchOrg | None = None,
    is_public: bool = False,
    results: dict | None = None,
) -> Job:
    """Admit a plan run for a signed-in `user`, or else for `scratch_org`, and create it.

    The checks run in a fixed order, so a client always hears about the first problem.
    Raises a Refused subclass.
    """
    check_may_install(plan, user)
    signed_in = bool(user and user.is_authenticated)
    org_id = user.org_id if signed_in else _scratch_org_id(plan, scratch_org)
    if not org_id:
        raise NoValidOrg()

    preflight = None
    if plan.requires_preflight:
        preflight = (
            PreflightResult.objects.filter(
                org_id=org_id, plan=plan, is_valid=True, status=Status.COMPLETE
            )
            .order_by("-created_at")
            .first()
        )
        if preflight is None or preflight.error_count > 0:
            raise NoValidPreflight()

    steps = list(steps)
    plan_steps = {step.pk: step for step in plan.steps.all()}
    chosen = {step.pk for step in steps}
    if not chosen <= plan_steps.keys():
        raise InvalidSteps()
    optional = _optional_step_ids(preflight.results if preflight else {}, plan_steps)
    required = {pk for pk, step in plan_steps.items() if step.is_required} - optional
    if not required <= chosen:
        raise InvalidSteps()
    if not _valid_initial_results(results, plan_steps):
        raise InvalidResults()

    ensure_org_free(org_id)
    if signed_in and not user.valid_token_for:
        raise ConnectionLost()
    return create_job(
        plan=plan,
        # The plan's own (loaded) steps, which the response reads.
        steps=[plan_steps[step.pk] for step in steps],
        user=user if signed_in else None,
        scratch_org=None if signed_in else scratch_org,
        is_public=is_public,
        results=results or {},
    )


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

    Raises OrgBusy or PreflightRunning when a run or a preflight is already started on
    the org (the database refuses it, so two concurrent requests cannot both succeed).
    """
    if scratch_org is not None:
        org_fields = {"org_id": scratch_org.org_id, "full_org_type": FullOrgType.SCRATCH}
    else:
        org_fields = {
            "org_id": user.org_id,
            "org_type": user.org_type or "",
            "full_org_type": user.full_org_type,
        }
    # The text the pages and the API show.
    agreement_text = tr(plan.version.product, "click_through_agreement")
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
            # Inserted as rows of the through table: .set() would first read the (empty) set.
            chosen = sorted({step.pk: step for step in steps}.values(),
                            key=lambda step: step.step_num_key)
            # The steps' rows and the org's event in one statement (a round trip each
            # is on the path of every run request).
            execute_announcing(_steps_insert_sql(), [job.pk, [step.pk for step in chosen]],
                               "ORG_CHANGED", "org", job.org_id)
            _prefetched(job, "steps", chosen)
            # Joining a waiting enqueuer_job is enough: it takes every waiting job when it runs.
            taskdefs.enqueuer_job.defer_or_join(job_pk=job.pk)
    except IntegrityError as exc:
        refusal = _busy_refusal(exc, org_fields["org_id"])
        if refusal is None:
            raise
        raise refusal from None
    return job


@once
def _steps_insert_sql() -> str:
    through = Job.steps.through._meta
    job, step = (quote(through.get_field(name).column) for name in ("job", "step"))
    return (f"INSERT INTO {quote(through.db_table)} ({job}, {step})"
            " SELECT %s, unnest(%s::bigint[])")


def _prefetched(job: Job, relation: str, rows: list) -> None:
    """Give `job` the rows of `relation` just written, as a prefetch would: the response
    built from it needs no re-read."""
    queryset = getattr(job, relation).all()
    queryset._result_cache = list(rows)
    queryset._prefetch_done = True
    job._prefetched_objects_cache = {**getattr(job, "_prefetched_objects_cache", {}),
                                     relation: queryset}


def set_job_public(job: Job, is_public: bool | None) -> None:
    """Change whether anyone may read the job; `None` changes nothing."""
    if not job.org_id:
        raise NoValidOrg()
    if is_public is not None:
        # One column only: a worker writing results at the same time loses nothing.
        Job.objects.filter(pk=job.pk).update(is_public=is_public, edited_at=timezone.now())


# --- preflights ----------------------------------------------------------------------------


def request_preflight(*, plan: Plan, user=None, scratch_org: ScratchOrg | None = None
                      ) -> PreflightResult:
    """Admit a preflight for a signed-in `user`, or else for `scratch_org`, and create it.

    One preflight at a time per org, and none while a plan run is started there.
    Raises a Refused subclass.
    """
    if user is not None and user.is_authenticated:
        check_may_install(plan, user)
        org_id = user.org_id
        if not org_id:
            raise NoValidOrg()
        if not user.valid_token_for:
            # Refused now rather than started as a preflight that can only fail.
            raise ConnectionLost()
        owner = user
    else:
        org_id, owner = _scratch_org_id(plan, scratch_org), None
        if not org_id:
            raise NoValidOrg()
    ensure_org_free(org_id)
    return create_preflight(plan=plan, org_id=org_id, user=owner)


def create_preflight(
    *, plan: Plan, org_id: str, user=None, carried_by: int | None = None
) -> PreflightResult:
    """Insert the preflight and its preflight_job deferral in one transaction.

    Raises OrgBusy or PreflightRunning as create_job does.

    `carried_by`: the id of the running queue job that runs this preflight itself (a
    scratch org's first preflight, run before the installation it gates); nothing is
    deferred, and a cancel of the preflight aborts that job.
    """
    try:
        with transaction.atomic():
            preflight = PreflightResult.objects.create(
                plan=plan, org_id=org_id, user=user, job_id=carried_by
            )
            if carried_by is None:
                preflight.job_id = taskdefs.preflight_job.defer(preflight_pk=preflight.pk)
                # Its queue id and the org's event in one statement, as for a run.
                execute_announcing(_queue_job_update_sql(), [preflight.job_id, preflight.pk],
                                   "ORG_CHANGED", "org", org_id)
            else:
                notify("ORG_CHANGED", "org", org_id)
    except IntegrityError as exc:
        refusal = _busy_refusal(exc, org_id)
        if refusal is None:
            raise
        raise refusal from None
    return preflight


@once
def _queue_job_update_sql() -> str:
    meta = PreflightResult._meta
    return (f"UPDATE {quote(meta.db_table)} SET {quote(meta.get_field('job_id').column)} = %s"
            f" WHERE {quote(meta.pk.column)} = %s")


def cancel_preflight(*, plan: Plan, org_id: str) -> None:
    """Cancel the org's running preflight of `plan`; NothingToCancel if there is none."""
    running = (
        PreflightResult.objects.filter(org_id=org_id, plan=plan, status=Status.STARTED)
        .order_by("-created_at")
        .first()
    )
    if running is None:
        raise NothingToCancel()
    request_cancel_preflight(running)


# --- cancelling ----------------------------------------------------------------------------


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
