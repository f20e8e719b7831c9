"""create_scratch_org, delete_scratch_org and expire_scratch_orgs: scratch-org task wrappers.

The work is in plandeploy.runs.scratch_orgs (creation) and plandeploy.runs.scratch_org_removal
(deletion and expiry).
"""

from __future__ import annotations

from plandeploy import queue, taskdefs
from plandeploy.runs import scratch_org_removal, scratch_orgs


@taskdefs.create_scratch_org.implement(pass_context=True)
def create_scratch_org(context: queue.JobContext, org_pk: int) -> str:
    """Create a scratch org. Under some circumstances it will also run plan steps."""
    return scratch_orgs.create(org_pk, context)


@taskdefs.delete_scratch_org.implement()
def delete_scratch_org(org_pk: int) -> str:
    """Delete a Scratch org."""
    return scratch_org_removal.delete(org_pk)


@taskdefs.expire_scratch_orgs.implement(schedule="expire_scratch_orgs")
def expire_scratch_orgs(timestamp: int | None = None) -> dict[str, int]:
    """Delete scratch orgs past expires_at, failed ones, and ones whose creation died."""
    return scratch_org_removal.run_expire_scratch_orgs()
