"""cleanup_user_data's workspace sweep: local org workspaces that nothing references go.

A workspace is referenced by an org connection naming its org, or by a run or preflight
still `started` on that org. What is left belonged to a deleted user (the connection went
with them) or to an org the user replaced; nothing would ever remove it otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice

from django.db import connection

from plandeploy.accounts.models import OrgConnection
from plandeploy.maintenance.batches import BATCH_SIZE
from plandeploy.orgs import workspaces
from plandeploy.runs.models import Job, PreflightResult

logger = logging.getLogger(__name__)

# A workspace changed more recently than this is left alone: its org's row may still be
# in the transaction that creates it.
WORKSPACE_GRACE = timedelta(hours=1)


def remove_unreferenced_workspaces(now: datetime, batch_size: int = BATCH_SIZE) -> int:
    """Remove the workspaces nothing references, batch_size directories a query; the count."""
    removed = 0
    candidates = workspaces.persistent_workspace_ids(now - WORKSPACE_GRACE)
    for org_ids in _chunks(candidates, batch_size):
        for org_id in unreferenced(org_ids):
            removed += int(workspaces.remove_persistent_workspace(org_id))
    if removed:
        logger.info("removed %d unreferenced local org workspace(s)", removed)
    return removed


def unreferenced(org_ids: list[str]) -> list[str]:
    """The org ids among `org_ids` that no connection and no started run names (one query;
    each probe uses an org_id index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT org_id FROM unnest(%s::text[]) AS candidate(org_id)
             WHERE NOT EXISTS (SELECT 1 FROM {OrgConnection._meta.db_table} c
                                WHERE c.org_id = candidate.org_id)
               AND NOT EXISTS (SELECT 1 FROM {Job._meta.db_table} j
                                WHERE j.org_id = candidate.org_id AND j.status = 'started')
               AND NOT EXISTS (SELECT 1 FROM {PreflightResult._meta.db_table} p
                                WHERE p.org_id = candidate.org_id AND p.status = 'started')
            """,
            [org_ids],
        )
        return [row[0] for row in cursor.fetchall()]


def _chunks(items: Iterator[str], size: int) -> Iterator[list[str]]:
    while chunk := list(islice(items, size)):
        yield chunk
