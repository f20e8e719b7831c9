"""Scratch orgs from a Salesforce Dev Hub: create (ScratchOrgInfo), wait, sign in, delete.

The Dev Hub is reached as DEVHUB_USERNAME with the JWT bearer flow (CumulusCI's
``jwt_session``; the connected app's certificate matches SFDX_HUB_KEY), and its REST API
through the ``salesforce_client`` of a CumulusCI ``OrgConfig``. A new org's AuthCode is
exchanged with CumulusCI's ``OAuth2Client``. Whatever goes wrong after the request was
inserted, nothing is left on the Dev Hub: the request and any org it made are deleted.

Not wired into create_scratch_org yet: scratch orgs stay local workspaces for now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# Polls of ScratchOrgInfo back off from the first to the last interval (seconds).
FIRST_POLL_SECONDS = 1.0
MAX_POLL_SECONDS = 10.0


class DevHubError(Exception):
    """The Dev Hub refused or failed the request; the message can be shown to the user."""


class DevHubUnavailable(DevHubError):
    """DEVHUB_USERNAME (or the key, or the connected app) is not configured."""


@dataclass(frozen=True)
class CreatedScratchOrg:
    org_id: str  # 18 characters, from the org's identity URL
    instance_url: str
    username: str
    access_token: str
    refresh_token: str | None


def available() -> bool:
    return bool(settings.DEVHUB_USERNAME and settings.SFDX_HUB_KEY and settings.SFDX_CLIENT_ID)


def _private_key() -> str:
    """SFDX_HUB_KEY is the PEM key itself or the path of a file holding it."""
    value = settings.SFDX_HUB_KEY
    if "-----BEGIN" in value:
        return value
    return Path(value).read_text()


def hub_org_config():
    """A CumulusCI OrgConfig for the Dev Hub, with a token from the JWT bearer flow."""
    from cumulusci.core.config import OrgConfig
    from cumulusci.core.exceptions import SalesforceCredentialsException
    from cumulusci.oauth.salesforce import jwt_session

    if not available():
        raise DevHubUnavailable("Scratch orgs from a Dev Hub are not configured.")
    try:
        info = jwt_session(settings.SFDX_CLIENT_ID, _private_key(), settings.DEVHUB_USERNAME,
                           url=settings.SALESFORCE_LOGIN_URL)
    except SalesforceCredentialsException as exc:
        # Salesforce's reply names the grant's problem (e.g. an expired assertion).
        raise DevHubError("The Dev Hub refused its sign-in (JWT bearer flow).") from exc
    return OrgConfig({"access_token": info["access_token"],
                      "instance_url": info["instance_url"]}, "devhub")


def create_scratch_org(*, duration_days: int, admin_email: str | None, org_name: str,
                       timeout: float, sleep: Callable[[float], None] = time.sleep,
                       edition: str = "Developer") -> CreatedScratchOrg:
    """Insert a ScratchOrgInfo, poll it with a back-off until Active (or an error, or
    `timeout` seconds), then exchange its AuthCode for the org's tokens.

    Raises DevHubError ("Scratch org creation failed: <ErrorCode>" or "... timed out"),
    having deleted the request and any org it made.
    """
    hub = hub_org_config().salesforce_client
    body: dict[str, Any] = {
        "Edition": edition,
        "DurationDays": duration_days,
        "OrgName": org_name,
        "ConnectedAppConsumerKey": settings.SFDX_CLIENT_ID,
        "ConnectedAppCallbackUrl": settings.SFDX_CLIENT_CALLBACK_URL,
    }
    if admin_email:
        body["AdminEmail"] = admin_email
    request_id = hub.ScratchOrgInfo.create(body)["id"]
    info: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + timeout
        wait = FIRST_POLL_SECONDS
        while True:
            records = hub.query(
                "SELECT Id, Status, ErrorCode, ScratchOrg, SignupUsername, LoginUrl, AuthCode "
                f"FROM ScratchOrgInfo WHERE Id = '{request_id}'"
            )["records"]
            info = records[0] if records else {}
            status = info.get("Status")
            if status not in ("New", "Creating"):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise DevHubError("Scratch org creation failed: Org creation timed out")
            sleep(min(wait, left))
            wait = min(wait * 2, MAX_POLL_SECONDS)
        if status != "Active":
            raise DevHubError(
                f"Scratch org creation failed: {info.get('ErrorCode') or status or 'unknown'}"
            )
        return _sign_in(info)
    except BaseException:
        _discard(hub, request_id, info.get("ScratchOrg"))
        raise


def _sign_in(info: dict[str, Any]) -> CreatedScratchOrg:
    from cumulusci.oauth.client import OAuth2Client, OAuth2ClientConfig

    login_url = str(info.get("LoginUrl") or "").rstrip("/")
    client = OAuth2Client(OAuth2ClientConfig(
        client_id=settings.SFDX_CLIENT_ID,
        client_secret=settings.SFDX_CLIENT_SECRET or None,
        auth_uri=f"{login_url}/services/oauth2/authorize",
        token_uri=f"{login_url}/services/oauth2/token",
        redirect_uri=settings.SFDX_CLIENT_CALLBACK_URL,
    ))
    response = client.auth_code_grant(info.get("AuthCode"))
    if response.status_code != 200:
        raise DevHubError("Scratch org creation failed: its sign-in was refused")
    token = response.json()
    identity = str(token.get("id") or "").rstrip("/").split("/")
    return CreatedScratchOrg(
        org_id=identity[-2] if len(identity) >= 2 else str(info.get("ScratchOrg")),
        instance_url=str(token["instance_url"]).rstrip("/"),
        username=str(info.get("SignupUsername") or ""),
        access_token=str(token["access_token"]),
        refresh_token=token.get("refresh_token"),
    )


def _discard(hub, request_id: str, scratch_org: str | None) -> None:
    """Best effort: the org (if one was made) and then the request are deleted."""
    try:
        if scratch_org:
            _delete_active(hub, scratch_org)
        hub.ScratchOrgInfo.delete(request_id)
    except Exception as exc:
        logger.warning("Dev Hub clean-up after a failed creation failed: %s",
                       type(exc).__name__)


def _delete_active(hub, org_id: str) -> bool:
    # ActiveScratchOrg.ScratchOrg holds the 15-character id; ids we store are 18.
    deleted = False
    for candidate in dict.fromkeys((org_id[:15], org_id)):
        records = hub.query(
            f"SELECT Id FROM ActiveScratchOrg WHERE ScratchOrg = '{candidate}'"
        )["records"]
        for record in records:
            hub.ActiveScratchOrg.delete(record["Id"])
            deleted = True
        if deleted:
            break
    return deleted


def delete_scratch_org(org_id: str) -> bool:
    """Delete the org on the Dev Hub (by its 15- or 18-character id); False if it was gone."""
    if not org_id or not org_id.isalnum() or len(org_id) not in (15, 18):
        raise ValueError("A Salesforce org id has 15 or 18 letters and digits.")
    return _delete_active(hub_org_config().salesforce_client, org_id)
