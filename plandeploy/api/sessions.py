"""The scratch org an anonymous browser session holds: how it is bound, and how it is read.

The scratch org's uuid in the session is a bearer credential. It is bound only by the
POST that created the org, by an explicit `?scratch_org_id=` on that org's plan page in a
session that holds no live scratch org yet, or by the confirming (CSRF-checked) claim POST.
A link alone therefore never swaps the org a visitor is working on for someone else's
(session fixation), and no arbitrary URL binds anything. Binding rotates the session key.
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest

from plandeploy.runs.models import ScratchOrg, Status

SESSION_KEY = "scratch_org_id"


def bind(request: HttpRequest, scratch_org: ScratchOrg) -> None:
    if request.session.get(SESSION_KEY) != str(scratch_org.uuid):
        # A new credential gets a new session id, so a planted session id is worthless.
        request.session.cycle_key()
        request.session[SESSION_KEY] = str(scratch_org.uuid)


def plan_scratch_org(raw: object, plan_id: int) -> ScratchOrg | None:
    """The scratch org of this very plan that `raw` (a uuid string) names, if any."""
    try:
        value = uuid.UUID(str(raw))
    except ValueError:
        return None
    return ScratchOrg.objects.filter(uuid=value, plan_id=plan_id).first()


def bind_from_query(request: HttpRequest, plan_id: int) -> None:
    """Honour `?scratch_org_id=` for an org of this plan, in a session holding no other org."""
    # A DRF request (the plan API) or a plain Django one (the plan page).
    params = getattr(request, "query_params", None) or getattr(request, "GET", None) or {}
    raw = params.get(SESSION_KEY)
    if not raw:
        return
    scratch_org = plan_scratch_org(raw, plan_id)
    if scratch_org is None:
        return
    held = session_scratch_org(request)
    if held is not None and held.pk != scratch_org.pk:
        return  # switching needs the confirming claim POST
    bind(request, scratch_org)


def session_scratch_org(
    request: HttpRequest, *, plan_id: int | None = None, complete: bool = False
) -> ScratchOrg | None:
    raw = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if not raw:
        return None
    try:
        value = uuid.UUID(str(raw))
    except ValueError:
        return None
    query = ScratchOrg.objects.filter(uuid=value)
    if plan_id is not None:
        query = query.filter(plan_id=plan_id)
    if complete:
        # A complete org always has an org_id; one still being created has none, and a NULL
        # org id would match every job without an org.
        query = query.filter(status=Status.COMPLETE, org_id__isnull=False)
    return query.first()


def session_scratch_org_id(request: HttpRequest) -> str | None:
    """The org id of the session's scratch org, or None while it has none (never NULL-matched)."""
    scratch_org = session_scratch_org(request)
    return scratch_org.org_id if scratch_org and scratch_org.org_id else None
