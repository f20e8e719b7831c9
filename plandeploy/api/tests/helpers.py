"""Shared helpers of the API tests."""

from __future__ import annotations

from plandeploy.runs.models import PreflightResult, ScratchOrg, Status
from plandeploy.tests.queue_rows import deferred

__all__ = ["complete_preflight", "complete_scratch_org", "deferred", "hold_scratch_org"]


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
