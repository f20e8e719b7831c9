"""The `salesforce` org type: where people sign in, what their org is, and fresh tokens for runs.

The one module that calls CumulusCI's OAuth client and org config for a user's org (so an
upgrade of CumulusCI touches this file): the token refresh goes through
``cumulusci.oauth.client.OAuth2Client`` and the org's record is read through the
``salesforce_client`` of a CumulusCI ``OrgConfig``. ``OrgConfig.refresh_oauth_token`` itself is
not used: with ``SFDX_CLIENT_ID`` and ``SFDX_HUB_KEY`` in the environment (a deployment with a
Dev Hub) it switches to the JWT flow of the Dev Hub user, which is not the user's org.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

PRODUCTION = "production"
SANDBOX = "sandbox"
CUSTOM = "custom"


class InvalidDomain(ValueError):
    """A custom domain that is not a Salesforce My Domain (or an allowed host); `code` says
    why (kind, invalid, scheme, format, not_my_domain), for a message in the page's language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TokenRefused(Exception):
    """Salesforce refused the refresh token (revoked, expired, or the app's secret changed)."""


class SalesforceUnavailable(Exception):
    """The deployment has no connected app configured (or does not offer Salesforce)."""


@dataclass(frozen=True)
class OrgDetails:
    """What the service stores about a user's Salesforce org after sign-in."""

    org_id: str
    instance_url: str
    username: str
    org_name: str
    organization_type: str
    full_org_type: str | None


def ensure_enabled() -> None:
    if not settings.SALESFORCE_ENABLED:
        raise SalesforceUnavailable(
            f"Sign in with Salesforce is not available: {settings.SALESFORCE_UNAVAILABLE_REASON}"
        )


def login_url(kind: str, custom_domain: str = "") -> str:
    """The base URL a person signs in at: production, sandbox, or their own My Domain.

    A custom domain must be an https URL whose host is under SALESFORCE_MY_DOMAIN_SUFFIXES or
    is one of SALESFORCE_ALLOWED_DOMAINS; nothing else (no path, query or user info). Our
    client secret and the person's code go to this host.
    """
    if kind == PRODUCTION:
        return settings.SALESFORCE_LOGIN_URL.rstrip("/")
    if kind == SANDBOX:
        return settings.SALESFORCE_SANDBOX_LOGIN_URL.rstrip("/")
    if kind != CUSTOM:
        raise InvalidDomain("kind", "Choose production, sandbox or a custom domain.")
    text = custom_domain.strip()
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as exc:
        raise InvalidDomain("invalid", "That is not a valid domain.") from exc
    if parts.scheme != "https":
        raise InvalidDomain("scheme", "A custom domain must use https.")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in (
        "", "/"
    ):
        raise InvalidDomain(
            "format", "Enter the domain only, like https://mycompany.my.salesforce.com."
        )
    allowed = {h.lower() for h in settings.SALESFORCE_ALLOWED_DOMAINS}
    under_suffix = any(
        host.endswith("." + suffix.lower().lstrip(".")) and len(host) > len(suffix) + 1
        for suffix in settings.SALESFORCE_MY_DOMAIN_SUFFIXES
    )
    if not host or not (under_suffix or host in allowed):
        raise InvalidDomain(
            "not_my_domain", "That is not a Salesforce My Domain: use a domain ending in "
            + " or ".join(settings.SALESFORCE_MY_DOMAIN_SUFFIXES) + "."
        )
    return f"https://{host}" + (f":{port}" if port else "")


def full_org_type(organization: dict[str, Any]) -> str | None:
    """Production / Sandbox / Developer / Scratch from the Organization record, as the
    reference shows them: a sandbox with a trial expiry is a scratch org."""
    organization_type = organization.get("OrganizationType")
    is_sandbox = organization.get("IsSandbox")
    if organization_type is None or is_sandbox is None:
        return None
    # The values of accounts.models.FullOrgType (orgs sits below accounts, so not imported).
    if is_sandbox:
        return "Scratch" if organization.get("TrialExpirationDate") else "Sandbox"
    if organization_type == "Developer Edition":
        return "Developer"
    return "Production"


def _org_config(instance_url: str, access_token: str, org_id: str | None = None):
    from cumulusci.core.config import OrgConfig

    config = {"instance_url": instance_url, "access_token": access_token}
    if org_id:
        config["org_id"] = org_id
    return OrgConfig(config, "plandeploy")


def read_organization(instance_url: str, access_token: str) -> dict[str, Any]:
    """The org's Organization record (Id, Name, IsSandbox, OrganizationType,
    TrialExpirationDate), through CumulusCI's REST client for the org."""
    result = _org_config(instance_url, access_token).salesforce_client.query(
        "SELECT Id, Name, IsSandbox, OrganizationType, TrialExpirationDate FROM Organization"
    )
    records = result.get("records") or []
    if not records:
        raise RuntimeError("Salesforce returned no Organization record.")
    return dict(records[0])


def org_details(instance_url: str, access_token: str, userinfo: dict[str, Any]) -> OrgDetails:
    organization = read_organization(instance_url, access_token)
    org_id = str(userinfo.get("organization_id") or organization.get("Id") or "")
    return OrgDetails(
        org_id=org_id,
        instance_url=instance_url.rstrip("/"),
        username=str(userinfo.get("preferred_username") or ""),
        org_name=str(organization.get("Name") or ""),
        organization_type=str(organization.get("OrganizationType") or ""),
        full_org_type=full_org_type(organization),
    )


def refresh_access_token(instance_url: str, refresh_token: str) -> str:
    """A new access token for the user's org, from the connected app of this deployment.

    Raises TokenRefused when Salesforce answers the grant with an error; other failures
    (Salesforce unreachable) propagate as they are.
    """
    from cumulusci.oauth.client import OAuth2Client, OAuth2ClientConfig
    from cumulusci.oauth.exceptions import OAuth2Error

    ensure_enabled()
    client = OAuth2Client(OAuth2ClientConfig(
        client_id=settings.SFDX_CLIENT_ID,
        client_secret=settings.SFDX_CLIENT_SECRET,
        auth_uri=f"{instance_url}/services/oauth2/authorize",
        token_uri=f"{instance_url}/services/oauth2/token",
    ))
    try:
        info = client.refresh_token(refresh_token)
    except OAuth2Error as exc:
        # The error body names the grant's problem, never a token; it is not shown to users.
        raise TokenRefused("Salesforce refused the refresh token.") from exc
    token = info.get("access_token")
    if not token:
        raise TokenRefused("Salesforce returned no access token.")
    return str(token)


def front_door_url(instance_url: str, access_token: str) -> str:
    """The URL that opens the org in a browser, signed in (CumulusCI's ``start_url``)."""
    return _org_config(instance_url, access_token).start_url
