"""Connecting a user's org: the row that names it and the token that reaches it."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from plandeploy.accounts.models import FullOrgType, OrgConnection, OrgType
from plandeploy.orgs import salesforce, workspaces


class OrgTypeNotOffered(Exception):
    """This deployment does not offer that org type (ORG_TYPES)."""


def connect_local_org(user, name: str | None) -> OrgConnection:
    """Give `user` a local org (a workspace directory) and a fresh access token for it.

    Connecting again keeps the org and its workspace and replaces the token.
    Raises OrgTypeNotOffered where ORG_TYPES leaves `local` out.
    """
    if not settings.LOCAL_ORGS_OFFERED:
        raise OrgTypeNotOffered("This site does not offer local orgs.")
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


def connect_salesforce_org(user, details, access_token: str, refresh_token: str | None
                           ) -> OrgConnection:
    """Record the Salesforce org `user` just signed in to (`details`: an orgs.salesforce
    OrgDetails) with its tokens, replacing whatever org the user had connected before."""
    now = timezone.now()
    with transaction.atomic():
        row = OrgConnection.objects.select_for_update().filter(user=user).first()
        row = row or OrgConnection(user=user)
        row.org_type = OrgType.SALESFORCE
        row.org_id = details.org_id
        row.org_name = details.org_name
        row.organization_type = details.organization_type
        row.full_org_type = details.full_org_type
        row.instance_url = details.instance_url
        row.org_username = details.username
        row.workspace = ""
        row.access_token = access_token
        row.refresh_token = refresh_token or None
        row.token_created_at = now
        row.last_login = now
        row.save()
    return row


def store_access_token(user_id: int, org_id: str, access_token: str) -> None:
    """Keep a token a run obtained by refresh, if the connection is still that org's."""
    OrgConnection.objects.filter(user_id=user_id, org_id=org_id).exclude(
        refresh_token=None
    ).update(access_token=access_token)


def invalidate_connection(user_id: int, org_id: str) -> bool:
    """Salesforce refused the connection's refresh token: drop both tokens, so the user is
    asked to sign in again (valid_token_for becomes null). Returns whether a row changed."""
    return bool(OrgConnection.objects.filter(user_id=user_id, org_id=org_id).update(
        access_token=None, refresh_token=None
    ))


def salesforce_sign_in_url(kind: str, custom_domain: str = "") -> str:
    """Where a person signs in with Salesforce: production, sandbox or their My Domain.

    Raises salesforce.SalesforceUnavailable (no connected app) or salesforce.InvalidDomain."""
    salesforce.ensure_enabled()
    return salesforce.login_url(kind, custom_domain)
