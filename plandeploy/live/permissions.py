"""Subscription messages: their shape, and who may follow which object (runs SQL)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from plandeploy.accounts.models import OrgConnection
from plandeploy.api.text_middleware import unstorable_text_path
from plandeploy.hashids import decode, encode
from plandeploy.live.identity import Credential
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg

MODELS = ("user", "job", "preflightresult", "org", "scratchorg")
MAX_MESSAGE_CHARS = 2048


@dataclass(frozen=True)
class Request:
    model: str
    id: str
    uuid: str | None


@dataclass(frozen=True)
class Grant:
    """An accepted subscription: the group its events come on, and how the reply names it."""

    group: str
    reply_id: str
    credential: Credential
    info: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def reply(self) -> dict[str, str]:
        return {"ok": f"Subscribed to {self.group.split('.', 1)[0]}.id = {self.reply_id}"}


def parse(text: str | bytes | None) -> Request | None:
    """A subscription, or None for anything else: exactly `model` and `id`, maybe `uuid`."""
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError:
            return None
    if not text or len(text) > MAX_MESSAGE_CHARS:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) not in ({"model", "id"}, {"model", "id", "uuid"}):
        return None
    if unstorable_text_path(data) is not None:
        return None  # the same rule as for HTTP requests: such an id cannot name a row
    model, object_id, scratch_uuid = data["model"], data["id"], data.get("uuid")
    if model not in MODELS:
        return None
    if isinstance(object_id, int) and not isinstance(object_id, bool):
        object_id = str(object_id)  # a preflight's id is a number
    if not isinstance(object_id, str) or not object_id:
        return None
    if "uuid" in data:
        try:
            scratch_uuid = str(uuid.UUID(str(scratch_uuid)))
        except ValueError:
            return None
    return Request(model, object_id, scratch_uuid)


def scratch_org_id(credential: Credential) -> str | None:
    """The org id of the credential's scratch org; None while it has none (never NULL-matched)."""
    if not credential.scratch_uuid:
        return None
    rows = ScratchOrg.objects.filter(uuid=credential.scratch_uuid, org_id__isnull=False)
    return rows.values_list("org_id", flat=True).first()


def authorize(request: Request, session_credential: Credential) -> Grant | None:
    """The grant for `request`, or None if the object is missing or not the caller's to follow.

    A `uuid` in the request is tried as the scratch-org credential; it is kept (for this
    subscription only) once it has passed the check, never before.
    """
    credential = (
        session_credential.with_scratch_uuid(request.uuid) if request.uuid else session_credential
    )
    check = _CHECKS[request.model]
    return check(request.id, credential)


def _pk(public_id: str) -> int | None:
    pk = decode(public_id)
    return pk if pk is not None and encode(pk) == public_id else None


def _user(public_id: str, credential: Credential) -> Grant | None:
    if credential.user_pk is None or _pk(public_id) != credential.user_pk:
        return None
    return Grant(f"user.{public_id}", public_id, credential)


def _job(public_id: str, credential: Credential) -> Grant | None:
    pk = _pk(public_id)
    job = Job.objects.filter(pk=pk).values("user_id", "org_id", "is_public").first() if pk else None
    if job is None:
        return None
    allowed = (
        job["is_public"] or credential.is_staff
        or (job["user_id"] is not None and job["user_id"] == credential.user_pk)
        or (job["user_id"] is None and bool(job["org_id"])
            and scratch_org_id(credential) == job["org_id"])
    )
    return Grant(f"job.{public_id}", public_id, credential) if allowed else None


def _preflight(public_id: str, credential: Credential) -> Grant | None:
    if not public_id.isdigit() or len(public_id) > 18:
        return None
    row = PreflightResult.objects.filter(pk=int(public_id)).values("user_id", "org_id").first()
    if row is None:
        return None
    allowed = (
        credential.is_staff
        or (row["user_id"] is not None and row["user_id"] == credential.user_pk)
        or (bool(row["org_id"]) and scratch_org_id(credential) == row["org_id"])
    )
    pk = str(int(public_id))
    return Grant(f"preflightresult.{pk}", pk, credential) if allowed else None


def _org(org_id: str, credential: Credential) -> Grant | None:
    # Staff get no bypass here: an org's events name its running job and preflight.
    own = credential.user_pk is not None and OrgConnection.objects.filter(
        user_id=credential.user_pk, org_id=org_id
    ).exists()
    if not (own or scratch_org_id(credential) == org_id):
        return None
    return Grant(f"org.{org_id}", hashlib.sha1(org_id.encode()).hexdigest(), credential)


def _scratch_org(public_id: str, credential: Credential) -> Grant | None:
    pk = _pk(public_id)
    row = ScratchOrg.objects.filter(pk=pk).values("uuid", "plan_id").first() if pk else None
    if row is None:
        return None
    if not (credential.is_staff or credential.scratch_uuid == str(row["uuid"])):
        return None
    return Grant(f"scratchorg.{public_id}", public_id, credential,
                 info={"plan": encode(row["plan_id"])})


_CHECKS = {
    "user": _user,
    "job": _job,
    "preflightresult": _preflight,
    "org": _org,
    "scratchorg": _scratch_org,
}
