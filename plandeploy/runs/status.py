"""Status changes for jobs, preflights and scratch orgs: forward only, always announced."""

from __future__ import annotations

from typing import Any

from django.db import connection, models
from django.utils import timezone

from plandeploy.hashids import encode
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status
from plandeploy.runs.notify import CHANNEL, payload_head


class InvalidTransition(Exception):
    """A status change that would move backwards or leave a final status."""


# started -> a final status; a scratch org may still fail after it was complete.
_ALLOWED: dict[type[models.Model], dict[str, frozenset[str]]] = {
    Job: {Status.STARTED: frozenset({Status.COMPLETE, Status.FAILED, Status.CANCELED})},
    PreflightResult: {Status.STARTED: frozenset({Status.COMPLETE, Status.FAILED, Status.CANCELED})},
    ScratchOrg: {
        Status.STARTED: frozenset({Status.COMPLETE, Status.FAILED, Status.CANCELED}),
        Status.COMPLETE: frozenset({Status.FAILED}),
    },
}

_EVENTS: dict[type[models.Model], dict[str, str]] = {
    Job: {Status.COMPLETE: "JOB_COMPLETED", Status.FAILED: "JOB_FAILED",
          Status.CANCELED: "JOB_CANCELED"},
    PreflightResult: {Status.COMPLETE: "PREFLIGHT_COMPLETED", Status.FAILED: "PREFLIGHT_FAILED",
                      Status.CANCELED: "PREFLIGHT_CANCELED"},
    ScratchOrg: {Status.COMPLETE: "SCRATCH_ORG_CREATED", Status.FAILED: "SCRATCH_ORG_UPDATED",
                 Status.CANCELED: "SCRATCH_ORG_UPDATED"},
}

_TIMESTAMP = {Status.COMPLETE: "success_at", Status.CANCELED: "canceled_at"}


def allowed_sources(model: type[models.Model], new_status: str) -> list[str]:
    return [source for source, targets in _ALLOWED[model].items() if new_status in targets]


def transition(
    model: type[models.Model], pk: Any, new_status: str, **fields: Any
) -> bool:
    """Move one row to `new_status`, writing only the given columns (plus the timestamp).

    Returns False when the row had already left the allowed source status (someone
    else finished it first); raises InvalidTransition for a move no row may make.
    """
    return bool(transition_many(model, [pk], new_status, **fields))


def transition_many(
    model: type[models.Model], pks: list[Any], new_status: str, **fields: Any
) -> list[Any]:
    """`transition` for many rows; returns the pks that actually moved.

    Rows that had already left the allowed source status are left alone (the UPDATE
    re-checks the status on each row it locks). One statement: the UPDATE and its
    announcements (on the worker's hot path, where the ORM's query building cost more
    than PostgreSQL's work).
    """
    sources = allowed_sources(model, new_status)
    if not sources:
        raise InvalidTransition(f"{model.__name__} cannot move to {new_status!r}")
    if not pks:
        return []
    now = timezone.now()
    timestamp_field = _TIMESTAMP.get(new_status)
    if timestamp_field and timestamp_field not in fields and _has_field(model, timestamp_field):
        fields[timestamp_field] = now
    if _has_field(model, "edited_at"):
        fields["edited_at"] = now
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    assignments = "".join(f", {connection.ops.quote_name(f.column)} = %s" for f in columns)
    values = [f.get_db_prep_save(fields[f.name], connection) for f in columns]
    # The event's payload ends with the row's public id, which only Python can compute.
    event_head = payload_head(_EVENTS[model][new_status], model.__name__.lower(), status=new_status)
    announcements = "pg_notify(%s, %s || to_json(p.public_id)::text || '}')"
    parameters = [CHANNEL, event_head]
    has_org = model in (Job, PreflightResult)
    if has_org:
        # Identical notifications of one transaction are delivered once: an org with
        # several moved rows is announced once.
        announcements += (
            ", CASE WHEN moved.org_id <> '' "
            "THEN pg_notify(%s, %s || to_json(moved.org_id)::text || '}') END"
        )
        parameters += [CHANNEL, payload_head("ORG_CHANGED", "org")]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH moved AS (
                UPDATE {meta.db_table} SET status = %s{assignments}
                 WHERE id = ANY(%s) AND status = ANY(%s)
                RETURNING id{", org_id" if has_org else ""}
            )
            SELECT moved.id, {announcements}
              FROM moved JOIN unnest(%s::bigint[], %s::text[]) AS p(pk, public_id)
                ON p.pk = moved.id
             ORDER BY moved.id
            """,
            [new_status, *values, list(pks), list(sources), *parameters,
             list(pks), [_public_id(model, pk) for pk in pks]],
        )
        return [row[0] for row in cursor.fetchall()]


def _public_id(model: type[models.Model], pk: Any) -> str:
    if hasattr(model, "pk_from_hashid"):
        return encode(pk)
    return str(pk)


def _has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:
        return False
    return True
