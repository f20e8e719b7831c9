"""Rate limits of the public writes and the admin API, per user and per client address.

Each scope's rate ("N/s|m|h|d") comes from settings.RATE_LIMITS. A request counts once
against its client address and once against its user (when signed in, or the submitted
user name for sign-in), and is refused with 429 and a Retry-After header when either count
is over the limit: a JSON body on the APIs, a page for the pages' forms. The API views
(SharedRateThrottle) and the page forms (rate_limited) count through the same `check`, in
the same counters, so a form and its API share one budget.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle

from plandeploy.security import store
from plandeploy.security.addresses import client_address

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'150/min' → (150, 60): a count and a period in seconds."""
    count, _, period = rate.partition("/")
    try:
        return int(count), _PERIODS[period.strip()[:1].lower()]
    except (KeyError, ValueError):
        raise ValueError(f"invalid rate {rate!r}: expected N/s, N/m, N/h or N/d") from None


def check(scope: str, address: str, user_key: str | None) -> float:
    """Count one request; 0 when allowed, else the seconds until the caller may retry."""
    limit, period = parse_rate(settings.RATE_LIMITS[scope])
    keys = [f"{scope}:address:{address}"]
    if user_key:
        keys.append(f"{scope}:user:{user_key}")
    wait = 0.0
    for key in keys:
        count, remaining = store.hit(key, period)
        if count > limit:
            wait = max(wait, remaining, 1.0)
    return wait


def signed_in_key(request) -> str | None:
    user = getattr(request, "user", None)
    return str(user.pk) if user is not None and user.is_authenticated else None


class SharedRateThrottle(BaseThrottle):
    """DRF throttle on the view's `throttle_scope`, counted in the shared database."""

    def allow_request(self, request, view) -> bool:
        self._wait = check(view.throttle_scope, client_address(request), signed_in_key(request))
        return self._wait == 0

    def wait(self) -> float | None:
        return self._wait or None


class CreateRateThrottle(SharedRateThrottle):
    """Counts only POSTs (what starts work), for views that also read, change or cancel."""

    def allow_request(self, request, view) -> bool:
        self._wait = 0.0
        if request.method != "POST":
            return True
        return super().allow_request(request, view)


def too_many_requests(wait: float) -> HttpResponse:
    retry_after = store.retry_after_header(wait)
    response = JsonResponse(
        {"detail": f"Request was throttled. Expected available in {retry_after} seconds."},
        status=429,
    )
    response["Retry-After"] = retry_after
    return response


def too_many_requests_page(request: HttpRequest, wait: float) -> HttpResponse:
    """The readable answer of a page form over its limit: what happened and when to retry."""
    retry_after = store.retry_after_header(wait)
    response = render(request, "429.html", {"retry_after": int(retry_after)}, status=429)
    response["Retry-After"] = retry_after
    return response


def rate_limited(scope: str, user_field: str | None = None) -> Callable:
    """Rate-limit the POSTs of a page's form (sign-in, preflight, install, scratch org,
    org connect) in the scope its API counts in, per address and per signed-in user.

    `user_field` names the form field that identifies the account aimed at (sign-in), so
    that guessing one account's password from many addresses is limited too.
    """

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def limited(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "POST":
                if user_field:
                    user_key = request.POST.get(user_field, "")[:150] or None
                else:
                    user_key = signed_in_key(request)
                wait = check(scope, client_address(request), user_key)
                if wait:
                    return too_many_requests_page(request, wait)
            return view(request, *args, **kwargs)

        return limited

    return decorate
