"""The message each subscriber gets for an event, built once per perspective (runs SQL).

A model event carries only its object's id; the object is read once, after the commit
that announced it, and serialized with the public API's serializers once per distinct
perspective (what the viewer may see, and their language), never once per subscriber.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from django.db.models import prefetch_related_objects
from django.utils import translation
from rest_framework.utils.encoders import JSONEncoder

from plandeploy.api.serializers.runs import (
    JobSerializer,
    PreflightResultSerializer,
    ScratchOrgSerializer,
)
from plandeploy.api.views.accounts import org_status
from plandeploy.catalog.models import Plan
from plandeploy.hashids import decode
from plandeploy.live.identity import Credential, Viewer
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status

# A run announces a step every few tenths of a second; its plan (texts, slugs, the
# product's) is read again after this long, not for every event.
PLAN_REUSE_SECONDS = 2.0
_PLANS = Plan.objects.select_related("plan_template", "version__product").prefetch_related(
    "translations", "plan_template__translations", "plan_template__slugs",
    "version__product__translations", "version__product__productslug_set",
)
# Per builder thread: the plan objects (and parler's caches on them) are never shared.
_thread = threading.local()

# A synthetic event: send the object's current state (after the LISTEN connection was lost,
# events may have been missed).
RESYNC = "RESYNC"

Messages = dict[Credential, str]

_JOB_ENDED = {Status.COMPLETE: "JOB_COMPLETED", Status.FAILED: "JOB_FAILED",
              Status.CANCELED: "JOB_CANCELED"}
_PREFLIGHT_ENDED = {Status.COMPLETE: "PREFLIGHT_COMPLETED", Status.FAILED: "PREFLIGHT_FAILED",
                    Status.CANCELED: "PREFLIGHT_CANCELED"}


def message(kind: str, payload: Any = None, *, with_payload: bool = True) -> str:
    body: dict[str, Any] = {"type": kind}
    if with_payload:
        body["payload"] = payload
    return json.dumps(body, cls=JSONEncoder)


def is_state_event(event: dict[str, Any]) -> bool:
    """Whether the event's payload is its object's current state (so a newer one supersedes it)."""
    if event["model"] == "user" or event["type"] == "SCRATCH_ORG_ERROR":
        return False
    return not (event["model"] == "scratchorg"
                and event["type"] in ("PREFLIGHT_STARTED", "JOB_STARTED"))


def build(event: dict[str, Any], credentials: Iterable[Credential],
          info: dict[str, Any]) -> Messages:
    """The text each credential's subscribers get for `event` (none for a credential that
    may no longer see the object, or when the object is gone)."""
    credentials = set(credentials)
    model, kind = event["model"], event["type"]
    if model == "user":
        if kind == RESYNC:
            return {}
        payload = {key: value for key, value in event.items() if key not in ("type", "model", "id")}
        text = message(kind, payload, with_payload=bool(payload))
        return dict.fromkeys(credentials, text)
    if model == "job":
        return _jobs(kind, event["id"], credentials)
    if model == "preflightresult":
        return _preflights(kind, event["id"], credentials)
    if model == "org":
        text = message("ORG_CHANGED", org_status(event["id"]))
        return dict.fromkeys(credentials, text)
    if model == "scratchorg":
        return _scratch_org_event(event, credentials, info)
    return {}


def _load_job(public_id: str) -> Job | None:
    """The job with what JobSerializer reads: its row and steps fresh, its plan (titles,
    messages, slugs) read at most PLAN_REUSE_SECONDS ago."""
    pk = decode(public_id)
    job = (Job.objects.select_related("user__org_connection").filter(pk=pk).first()
           if pk is not None else None)
    if job is None:
        return None
    cache: dict[int, tuple[float, Plan]] = getattr(_thread, "plans", None) or {}
    _thread.plans = cache
    now = time.monotonic()
    cached = cache.get(job.plan_id)
    if cached is None or now - cached[0] > PLAN_REUSE_SECONDS:
        if len(cache) > 256:
            cache.clear()
        cached = cache[job.plan_id] = (now, _PLANS.get(pk=job.plan_id))
    job.plan = cached[1]
    prefetch_related_objects([job], "steps")
    return job


def _jobs(kind: str, public_id: str, credentials: set[Credential]) -> Messages:
    job = _load_job(public_id)
    if job is None:
        return {}
    if kind == RESYNC:
        kind = _JOB_ENDED.get(job.status, "TASK_COMPLETED")
    scratch_org_ids = _scratch_org_ids(credentials) if job.user_id is None else {}

    def perspective(credential: Credential) -> tuple | None:
        # Mirrors JobSerializer's rule: org details for the owner, staff or the scratch
        # org's session; editing for the owner or that session only.
        if job.user_id is not None:
            owner = credential.user_pk == job.user_id
            rights, can_edit = owner or credential.is_staff, owner
        else:
            session_org_id = scratch_org_ids.get(credential.scratch_uuid)
            rights = can_edit = bool(job.org_id) and session_org_id == job.org_id
        if not (job.is_public or rights):
            return None  # no longer shared with this viewer
        return rights, can_edit

    def render(credential: Credential) -> str:
        context = {
            "request": SimpleNamespace(user=Viewer(credential.user_pk, credential.is_staff)),
            "_session_org_id": scratch_org_ids.get(credential.scratch_uuid),
        }
        return message(kind, JobSerializer(job, context=context).data)

    return _per_perspective(credentials, perspective, render)


def _preflights(kind: str, public_id: str, credentials: set[Credential]) -> Messages:
    if not str(public_id).isdigit():
        return {}
    preflight = (PreflightResult.objects.select_related("user__org_connection", "plan")
                 .filter(pk=int(public_id)).first())
    if preflight is None:
        return {}
    if kind == RESYNC:
        kind = ("PREFLIGHT_INVALIDATED" if not preflight.is_valid
                else _PREFLIGHT_ENDED.get(preflight.status))
        if kind is None:
            return {}  # still running: its end will be announced
    text = message(kind, PreflightResultSerializer(preflight).data)
    return dict.fromkeys(credentials, text)


def _scratch_org_event(event: dict[str, Any], credentials: set[Credential],
                       info: dict[str, Any]) -> Messages:
    kind = event["type"]
    if kind == "SCRATCH_ORG_ERROR":
        payload = {key: event.get(key) for key in ("org", "plan", "message")}
        return dict.fromkeys(credentials, message(kind, payload))
    if kind == "PREFLIGHT_STARTED":
        return _preflights(kind, event.get("preflight", ""), credentials)
    if kind == "JOB_STARTED":
        return _jobs(kind, event.get("job", ""), credentials)
    pk = decode(event["id"])
    org = ScratchOrg.objects.select_related("plan").filter(pk=pk).first() if pk else None
    if org is None:
        # Deleted: only its id and plan are left to tell.
        payload = {"org": event["id"], "plan": info.get("plan"), "message": None}
        return dict.fromkeys(credentials, message("SCRATCH_ORG_DELETED", payload))
    if kind == RESYNC:
        kind = "SCRATCH_ORG_CREATED" if org.status == Status.COMPLETE else "SCRATCH_ORG_UPDATED"
    return dict.fromkeys(credentials, message(kind, ScratchOrgSerializer(org).data))


def _scratch_org_ids(credentials: set[Credential]) -> dict[str | None, str]:
    """The org id of each credential's scratch org, in one query."""
    uuids = {credential.scratch_uuid for credential in credentials if credential.scratch_uuid}
    if not uuids:
        return {}
    rows = ScratchOrg.objects.filter(uuid__in=uuids, org_id__isnull=False).values_list(
        "uuid", "org_id"
    )
    return {str(value): org_id for value, org_id in rows}


def _per_perspective(credentials: set[Credential], perspective: Callable[[Credential], Any],
                     render: Callable[[Credential], str]) -> Messages:
    """Render once per (perspective, language), with any one credential of that group."""
    rendered: dict[tuple, str] = {}
    messages: Messages = {}
    for credential in credentials:
        seen_as = perspective(credential)
        if seen_as is None:
            continue
        key = (seen_as, credential.language)
        if key not in rendered:
            with translation.override(credential.language):
                rendered[key] = render(credential)
        messages[credential] = rendered[key]
    return messages
