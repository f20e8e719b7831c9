"""What the plan and job pages show: steps with preflight results applied, why install waits."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from plandeploy.catalog.markdown import render
from plandeploy.catalog.models import Plan, Step
from plandeploy.catalog.texts import tr
from plandeploy.runs import services
from plandeploy.runs.models import PreflightResult, Status


@dataclass
class Message:
    status: str  # error, warn, optional, skip, info
    text: str


@dataclass
class StepRow:
    """One step of the plan as the plan page lists it."""

    id: str
    name: str
    description: str
    kind: str
    requirement: str  # required, recommended, optional
    checked: bool
    locked: bool  # required (always installed) or skipped (never): no checkbox to change
    skipped: bool = False
    messages: list[Message] = field(default_factory=list)


def _messages(entries) -> list[Message]:
    found = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("message"):
            # Stored HTML-escaped; unescaped here because the template escapes it again.
            found.append(Message(str(entry.get("status", "info")),
                                 html.unescape(str(entry["message"]))))
    return found


def _statuses(entries) -> set[str]:
    return {entry.get("status") for entry in entries if isinstance(entry, dict)} if isinstance(
        entries, list) else set()


def step_rows(plan: Plan, preflight: PreflightResult | None) -> list[StepRow]:
    """The plan's steps in order; a valid, complete preflight's hide/skip/optional applied."""
    results = preflight.results if preflight and preflight.status == Status.COMPLETE else {}
    rows = []
    for step in plan.steps.all():
        entries = (results or {}).get(step.hashid, [])
        statuses = _statuses(entries)
        if "hide" in statuses:
            continue
        skipped = "skip" in statuses
        required = step.is_required and not (statuses & {"optional", "skip"})
        requirement = ("required" if required
                       else "recommended" if step.is_recommended else "optional")
        rows.append(StepRow(
            id=step.hashid,
            name=tr(step, "name"),
            description=tr(step, "description"),
            kind=step.get_kind_display(),
            requirement=requirement,
            checked=not skipped and (required or step.is_recommended),
            locked=required or skipped,
            skipped=skipped,
            messages=_messages(entries),
        ))
    return rows


def plan_messages(preflight: PreflightResult | None) -> list[Message]:
    if preflight is None or preflight.status != Status.COMPLETE:
        return []
    return _messages((preflight.results or {}).get("plan", []))


def preflight_expires_at(preflight: PreflightResult | None) -> datetime | None:
    if preflight is None or not preflight.is_valid or preflight.status != Status.COMPLETE:
        return None
    return preflight.created_at + timedelta(minutes=settings.PREFLIGHT_LIFETIME_MINUTES)


@dataclass
class InstallGate:
    """Whether the install button works, and if not the reason (and where to go)."""

    reason: str = ""
    link: str = ""
    link_text: str = ""

    @property
    def open(self) -> bool:
        return not self.reason


def install_gate(plan: Plan, user, org_id: str | None, preflight: PreflightResult | None,
                 running_job_url: str | None, here: str = "/") -> InstallGate:
    """The first reason that stops an install, in the order the service checks them."""
    try:
        services.check_may_install(plan, user)
    except services.PlanNotAllowed as refused:
        return InstallGate(str(refused))
    signed_in = bool(user and user.is_authenticated)
    if not org_id:
        if signed_in:
            return InstallGate(_("Connect an org to install this plan."))
        return InstallGate(_("Sign in to install this plan."),
                           f"{settings.LOGIN_URL}?{urlencode({'next': here})}", _("Sign in"))
    if plan.requires_preflight and not (
        preflight is not None and preflight.is_ready
        and preflight_expires_at(preflight) > timezone.now()
    ):
        return InstallGate(_("Run the preflight checks first; the last ones are not valid."))
    if running_job_url:
        return InstallGate(_("Your org is busy with another installation."), running_job_url,
                           _("View the running installation"))
    if signed_in and not user.valid_token_for:
        return InstallGate(services.CONNECTION_LOST)
    return InstallGate()


def warnings_to_accept(preflight: PreflightResult | None) -> list[Message]:
    """A valid preflight's warnings, on steps or the plan: installing anyway is the user's
    explicit choice, as is the agreement."""
    if preflight is None or not preflight.is_valid or preflight.status != Status.COMPLETE:
        return []
    return [message for entries in (preflight.results or {}).values()
            for message in _messages(entries) if message.status == "warn"]


def plan_texts(plan: Plan) -> dict[str, str]:
    """The plan's markdown texts as safe HTML (raw HTML in the source is escaped)."""
    product = plan.version.product
    return {
        "preflight_message": render(tr(plan.plan_template, "preflight_message"))
        + render(tr(plan, "preflight_message_additional")),
        "agreement": render(tr(product, "click_through_agreement")),
    }


# --- the job page -----------------------------------------------------------------------------


@dataclass
class JobStepRow:
    id: str
    name: str
    kind: str
    state: str  # waiting, running, ok, error, skipped, canceled
    state_label: str  # the state as the page's language reads it
    message: str
    logs: str


def state_labels() -> dict[str, str]:
    """What each job or step state reads as, in the current language (the CSS classes and the
    page's script keep the states' own names)."""
    return {
        "started": pgettext("state", "started"), "complete": pgettext("state", "complete"),
        "failed": pgettext("state", "failed"), "canceled": pgettext("state", "canceled"),
        "waiting": pgettext("state", "waiting"), "running": pgettext("state", "running"),
        "ok": pgettext("state", "ok"), "error": pgettext("state", "error"),
        "warn": pgettext("state", "warning"), "skipped": pgettext("state", "skipped"),
    }


def step_state(job_status: str, selected: bool, entry: dict | None) -> str:
    """A step's state from the job's status and its result entry (the page's JS does the same)."""
    if not selected:
        return "skipped"
    if entry and entry.get("status"):
        return "skipped" if entry["status"] in ("skip", "skipped") else str(entry["status"])
    if job_status == Status.STARTED:
        return "running" if entry is not None else "waiting"
    return "canceled" if job_status == Status.CANCELED else "waiting"


def job_step_rows(steps: list[Step], job_data: dict,
                  labels: dict[str, str] | None = None) -> list[JobStepRow]:
    """The job's steps with their states; `labels` are state_labels() if the caller has them."""
    labels = state_labels() if labels is None else labels
    selected = set(job_data["steps"])
    results = job_data.get("results") or {}
    rows = []
    for step in steps:
        entries = results.get(step.hashid)
        entry = entries[0] if isinstance(entries, list) and entries and isinstance(
            entries[0], dict) else None
        state = step_state(job_data["status"], step.hashid in selected, entry)
        rows.append(JobStepRow(
            id=step.hashid,
            name=tr(step, "name"),
            kind=step.get_kind_display(),
            state=state,
            state_label=labels.get(state, state),
            message=html.unescape(str(entry.get("message", ""))) if entry else "",
            logs=html.unescape(str(entry.get("logs", ""))) if entry else "",
        ))
    return rows
