"""The API's authentication: tokens read with the catalogue version, and CSRF for every write
whose credential a browser sends by itself (its cookies).

API tokens: CatalogueVersionTokenAuthentication reads the catalogue version every request
needs (catalog/cache.py) in the token's own query, one round trip instead of two.

CSRF: DRF checks CSRF only for users signed in through the session. An anonymous browser
holds a credential in its session too: the scratch org it requested. Without a check
another site could make a visitor's browser request a scratch org (planting one in the
visitor's session), start runs on the visitor's scratch org or cancel them.
AnonymousSessionCsrf comes last in DEFAULT_AUTHENTICATION_CLASSES, so it runs only when
neither an API token nor a signed-in session authenticated the request: every unsafe
anonymous request then needs the CSRF cookie and its `X-CSRFToken` header (GET
/api/ui/bootstrap/ sets the cookie). Token-authenticated calls never reach it and stay CSRF-free.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, CSRFCheck
from rest_framework.request import Request

from plandeploy.accounts.authentication import ExpiringTokenAuthentication
from plandeploy.catalog import cache

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class CatalogueVersionTokenAuthentication(ExpiringTokenAuthentication):
    """API tokens (hashed, expiring); the request's catalogue version comes with the token."""

    also_select = cache.VERSION_SQL

    def selected_with_token(self, request: Request, value) -> None:
        # On Django's request, which DRF's wraps: the pages' reads and the views' see it.
        cache.keep_request_version(request._request, value)


def _no_response(_request):
    return None


def enforce_csrf(request: Request) -> None:
    """Raise 403 unless the request carries a valid CSRF token (Django's rules, incl. Origin)."""
    check = CSRFCheck(_no_response)
    check.process_request(request._request)
    reason = check.process_view(request._request, None, (), {})
    if reason:
        raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")


class AnonymousSessionCsrf(BaseAuthentication):
    """Authenticates nobody; refuses an anonymous unsafe request without a CSRF token."""

    def authenticate(self, request: Request):
        if request.method not in SAFE_METHODS:
            enforce_csrf(request)
        return None


class AnonymousSessionScheme(OpenApiAuthenticationExtension):
    """In the schema: an anonymous caller's credential is its session cookie (its scratch org)."""

    target_class = AnonymousSessionCsrf
    name = "anonymousSessionCookie"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
