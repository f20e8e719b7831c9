"""Status changes for jobs, preflights and scratch orgs: forward only, always announced."""

from __future__ import annotations

from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status
from plandeploy.runs.notify import CHANNEL, event_payload, notify_many, payload_head


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
    One statement: the UPDATE and its announcements (on the worker's hot path, where the
    ORM's query building cost more than PostgreSQL's work).
    """
    sources = allowed_sources(model, new_status)
    if not sources:
        raise InvalidTransition(f"{model.__name__} cannot move to {new_status!r}")
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
    has_org = model in (Job, PreflightResult)
    announcements = ["pg_notify(%s, %s)"]
    parameters = [CHANNEL, event_payload(
        _EVENTS[model][new_status], model.__name__.lower(), _public_id(model, pk),
        status=new_status,
    )]
    if has_org:
        announcements.append(
            "CASE WHEN org_id <> '' "
            "THEN pg_notify(%s, %s || to_json(org_id)::text || '}') END"
        )
        parameters += [CHANNEL, payload_head("ORG_CHANGED", "org")]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH moved AS (
                UPDATE {meta.db_table} SET status = %s{assignments}
                 WHERE id = %s AND status = ANY(%s)
                RETURNING {"org_id" if has_org else "id"}
            )
            SELECT {", ".join(announcements)} FROM moved
            """,
            [new_status, *values, pk, list(sources), *parameters],
        )
        return cursor.rowcount > 0


def transition_many(
    model: type[models.Model], pks: list[Any], new_status: str, **fields: Any
) -> list[Any]:
    """`transition` for many rows in one statement; returns the pks that actually moved.

    Rows that had already left the allowed source status are left alone, as in `transition`.
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
    with transaction.atomic():
        moved = list(
            model.objects.select_for_update()
            .filter(pk__in=pks, status__in=sources)
            .values_list("pk", flat=True)
        )
        if moved:
            model.objects.filter(pk__in=moved).update(status=new_status, **fields)
            name = model.__name__.lower()
            notify_many(_EVENTS[model][new_status], name, [_public_id(model, pk) for pk in moved])
            if model in (Job, PreflightResult):
                org_ids = set(
                    model.objects.filter(pk__in=moved, org_id__isnull=False)
                    .values_list("org_id", flat=True)
                )
                notify_many("ORG_CHANGED", "org", sorted(org_ids))
    return moved


def _public_id(model: type[models.Model], pk: Any) -> str:
    if hasattr(model, "pk_from_hashid"):
        from plandeploy.hashids import encode

        return encode(pk)
    return str(pk)


def _has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:
        return False
    return True
