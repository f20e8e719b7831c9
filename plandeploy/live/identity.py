"""Who is on the other end of a websocket: its Origin, its session's user and scratch org."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils import translation

from plandeploy.api import sessions


@dataclass(frozen=True)
class Credential:
    """What a subscription was granted on; representations are built per distinct credential.

    `scratch_uuid` is the scratch org a subscription may act for: the session's, or one the
    client named in its subscription and that passed the permission check.
    """

    user_pk: int | None
    is_staff: bool
    scratch_uuid: str | None
    language: str

    def with_scratch_uuid(self, value: str | None) -> Credential:
        return Credential(self.user_pk, self.is_staff, value, self.language)


@dataclass(frozen=True)
class Viewer:
    """The request user the API serializers read (they only ask who and whether staff)."""

    pk: int | None
    is_staff: bool

    @property
    def is_authenticated(self) -> bool:
        return self.pk is not None


def headers_of(scope: dict) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])}


def origin_allowed(headers: dict[str, str]) -> bool:
    """The Origin must name an allowed host, so another site's page cannot use a visitor's
    session cookie to listen to their runs (browsers always send Origin on websockets)."""
    origin = headers.get("origin", "")
    if "://" not in origin:
        return False
    domain, _port = split_domain_port(origin.split("://", 1)[1].split("/", 1)[0])
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def identify(headers: dict[str, str]) -> Credential:
    """The session cookie's user and scratch org, and the language asked for (runs SQL)."""
    cookies = parse_cookie(headers.get("cookie", ""))
    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore(cookies.get(settings.SESSION_COOKIE_NAME))
    user = auth.get_user(SimpleNamespace(session=session))
    scratch_uuid = session.get(sessions.SESSION_KEY)
    request = HttpRequest()
    request.COOKIES = cookies
    if "accept-language" in headers:
        request.META["HTTP_ACCEPT_LANGUAGE"] = headers["accept-language"]
    return Credential(
        user_pk=user.pk if user.is_authenticated else None,
        is_staff=bool(user.is_authenticated and user.is_staff),
        scratch_uuid=str(scratch_uuid) if scratch_uuid else None,
        language=translation.get_language_from_request(request),
    )
