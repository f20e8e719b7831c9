"""Sign in with Salesforce through django-allauth's Salesforce provider (OAuth 2.0 web server
flow, PKCE when SALESFORCE_PKCE is on).

The one module that reaches into allauth's internals, because allauth's Salesforce adapter
takes its base URL from the app's ``key``, one URL per deployment, while here each sign-in
picks production, sandbox or the person's own My Domain. So:

- the start view (plandeploy.web) validates the choice and keeps the base URL in the session
  under SESSION_KEY; :class:`SalesforceAdapter` reads it for the authorize, token and (through
  the instance) userinfo calls; the redirect URI is SFDX_CLIENT_CALLBACK_URL exactly;
- the token response carries the org's instance URL; with it the adapter reads the user and
  the org's Organization record, and :func:`_connect_org` stores them with the tokens in our
  OrgConnection (tokens encrypted), never in allauth's SocialToken table
  (SOCIALACCOUNT_STORE_TOKENS is off). allauth's SocialAccount keeps only the user's and org's
  ids.
"""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.signals import user_logged_in
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter, get_adapter
from allauth.socialaccount.providers import registry
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView
from allauth.socialaccount.providers.salesforce.provider import SalesforceProvider
from allauth.socialaccount.providers.salesforce.views import SalesforceOAuth2Adapter
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest
from django.shortcuts import render

from plandeploy.accounts import services
from plandeploy.orgs import salesforce

logger = logging.getLogger(__name__)

SESSION_KEY = "salesforce_login_url"
# What allauth's SocialAccount keeps of the user info: enough to find the account again.
_KEPT_USERINFO = ("user_id", "organization_id", "preferred_username", "email",
                  "email_verified", "given_name", "family_name")
_DETAILS_ATTRIBUTE = "_salesforce_org_details"


class SalesforceAdapter(SalesforceOAuth2Adapter):
    """allauth's Salesforce adapter, at the base URL this sign-in chose."""

    @property
    def base_url(self) -> str:
        url = self.request.session.get(SESSION_KEY)
        if not url:
            # A callback without a started sign-in: allauth shows its authentication error.
            from allauth.socialaccount.providers.base import ProviderException

            raise ProviderException("No Salesforce sign-in was started in this session.")
        return url

    def get_callback_url(self, request: HttpRequest, app) -> str:
        # Salesforce compares the redirect URI with the connected app's callback exactly.
        return settings.SFDX_CLIENT_CALLBACK_URL

    def complete_login(self, request: HttpRequest, app, token, **kwargs: Any):
        response = kwargs.get("response") or {}
        instance_url = str(response.get("instance_url") or "").rstrip("/")
        if not instance_url.startswith("https://"):
            from allauth.socialaccount.providers.base import ProviderException

            raise ProviderException("Salesforce returned no instance URL.")
        with get_adapter().get_requests_session() as session:
            reply = session.get(f"{instance_url}/services/oauth2/userinfo",
                                headers={"Authorization": f"Bearer {token.token}"})
            reply.raise_for_status()
            userinfo = reply.json()
        details = salesforce.org_details(instance_url, token.token, userinfo)
        setattr(request, _DETAILS_ATTRIBUTE, details)
        kept = {key: userinfo[key] for key in _KEPT_USERINFO if key in userinfo}
        return self.get_provider().sociallogin_from_response(request, kept)


class PlandeploySalesforceProvider(SalesforceProvider):
    """allauth's Salesforce provider with :class:`SalesforceAdapter` (named by
    SOCIALACCOUNT_PROVIDERS["salesforce"]["provider_class"])."""

    oauth2_adapter_class = SalesforceAdapter

    def get_default_scope(self) -> list[str]:
        # refresh_token: runs refresh the token later; api: the REST API; web: frontdoor.jsp.
        return ["refresh_token", "api", "web", "id", "openid"]


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """SOCIALACCOUNT_ADAPTER: every failed or canceled sign-in gets our error page (allauth's
    own pages and their URLs are not installed)."""

    def on_authentication_error(self, request, provider, error=None, exception=None,
                                extra_context=None) -> None:
        # The type only: an exception's text may quote Salesforce's reply.
        logger.warning("Salesforce sign-in failed: %s %s", error,
                       type(exception).__name__ if exception else "")
        raise ImmediateHttpResponse(render(
            request, "socialaccount/authentication_error.html",
            {"canceled": error == "cancelled"}, status=401,
        ))


# allauth's provider module registers its own class when imported, and the registry applies
# "provider_class" only when it loads every app's providers; register ours now so that
# lookups before that load (the sign-in start) find it too.
registry.register(PlandeploySalesforceProvider)


def start(request: HttpRequest, base_url: str):
    """Begin the sign-in at `base_url` (already validated): a redirect to its authorize page."""
    request.session[SESSION_KEY] = base_url
    provider = get_adapter(request).get_provider(request, PlandeploySalesforceProvider.id)
    return provider.redirect_from_request(request)


callback = OAuth2CallbackView.adapter_view(SalesforceAdapter)


@receiver(user_logged_in)
def _connect_org(sender, request: HttpRequest, user, sociallogin=None, **kwargs: Any) -> None:
    details = getattr(request, _DETAILS_ATTRIBUTE, None)
    if sociallogin is None or details is None or sociallogin.token is None:
        return
    services.connect_salesforce_org(
        user, details, sociallogin.token.token, sociallogin.token.token_secret or None
    )
    request.session.pop(SESSION_KEY, None)
