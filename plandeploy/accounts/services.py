"""Connecting a user's org: the row that names it and the token that reaches it."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from plandeploy.accounts.models import FullOrgType, OrgConnection, OrgType
from plandeploy.orgs import workspaces


def connect_local_org(user, name: str | None) -> OrgConnection:
    """Give `user` a local org (a workspace directory) and a fresh access token for it.

    Connecting again keeps the org and its workspace and replaces the token.
    """
    with transaction.atomic():
        existing = OrgConnection.objects.select_for_update().filter(user=user).first()
        if existing is None or existing.org_type != OrgType.LOCAL or not existing.org_id:
            row = existing or OrgConnection(user=user)
            row.org_type = OrgType.LOCAL
            row.org_id = workspaces.new_local_org_id()
            # Relative to LOCAL_ORGS_ROOT: the worker that runs on it may mount it elsewhere.
            row.workspace = workspaces.stored(workspaces.persistent_workspace(row.org_id))
        else:
            row = existing
        row.org_name = name or row.org_name or f"{user.username}'s local org"
        row.organization_type = "Developer Edition"
        row.full_org_type = FullOrgType.DEVELOPER
        row.instance_url = ""
        row.org_username = row.org_username or user.username
        row.access_token = secrets.token_urlsafe(32)
        row.refresh_token = None
        row.token_created_at = timezone.now()
        row.last_login = timezone.now()
        workspace = workspaces.resolve(row.workspace)
        if workspace is None:
            # A local org recorded without a usable workspace gets its standard one.
            workspace = workspaces.persistent_workspace(row.org_id)
            row.workspace = workspaces.stored(workspace)
        workspaces.create_workspace(workspace, exist_ok=True)
        row.save()
    return row
