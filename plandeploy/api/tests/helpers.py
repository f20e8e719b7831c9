"""Shared helpers of the API tests."""

from __future__ import annotations

import json

from django.db import connection

from plandeploy.runs.models import PreflightResult, ScratchOrg, Status


def deferred(task_name: str) -> list[dict]:
    """Queue rows (procrastinate_jobs) waiting for `task_name`, with their arguments."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT args, queue_name FROM procrastinate_jobs WHERE task_name = %s "
            "AND status = 'todo' ORDER BY id",
            [task_name],
        )
        return [
            {"args": json.loads(args) if isinstance(args, str) else args, "queue": queue}
            for args, queue in cursor.fetchall()
        ]


def complete_preflight(plan, org_id: str, user=None, results=None) -> PreflightResult:
    return PreflightResult.objects.create(
        plan=plan, org_id=org_id, user=user, status=Status.COMPLETE, results=results or {}
    )


def complete_scratch_org(plan, org_id: str = "00DSCRATCH00000001") -> ScratchOrg:
    return ScratchOrg.objects.create(plan=plan, status=Status.COMPLETE, org_id=org_id)


def hold_scratch_org(client, scratch_org: ScratchOrg) -> None:
    """Put the org's uuid in the client's session, as the creating POST would."""
    session = client.session
    session["scratch_org_id"] = str(scratch_org.uuid)
    session.save()
