"""JSON error bodies for every API failure, including ones Django raises before DRF runs."""

from __future__ import annotations

import sys

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "Request body is too large."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": "Bad request."}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DataError):
        # Input the database cannot store or compare (e.g. NUL bytes, out-of-range numbers).
        exc = exceptions.ValidationError({"detail": "Invalid input."})
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    return drf_exception_handler(exc, context)


# Paths whose clients expect JSON, even for a URL that matches no route or a crash: the two
# APIs, and the probes and scraper endpoints with anything below them (/metrics/x, /readyz/).
_JSON_PATH_PREFIXES = ("/api/", "/admin/rest/")
_JSON_ENDPOINTS = ("/healthz", "/readyz", "/metrics")


def wants_json(path: str) -> bool:
    """True for a path of the APIs or of an operator endpoint (or below one)."""
    return path.startswith(_JSON_PATH_PREFIXES) or any(
        path == endpoint or path.startswith(f"{endpoint}/") for endpoint in _JSON_ENDPOINTS
    )


def json_not_found(request, *args, **kwargs):
    return JsonResponse({"detail": "Not found."}, status=404)


def page_not_found(request, exception):
    if wants_json(request.path):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


# Seconds a client is asked to wait while the database does not answer (a restart, a
# failover): long enough not to hammer it, short enough for a restart to be over.
DATABASE_RETRY_AFTER_SECONDS = 5


def server_error(request):
    """500, or 503 with Retry-After while the database does not answer: a client and a load
    balancer then know that trying again soon is right, and nothing was wrong with the
    request."""
    # Django calls this handler while it handles the exception, which is still current.
    unavailable = isinstance(sys.exc_info()[1], (OperationalError, InterfaceError))
    if unavailable:
        if wants_json(request.path):
            response = JsonResponse({"detail": "The service is briefly unavailable: its "
                                     "database does not answer. Please try again."},
                                    status=503)
        else:
            # The error page has no site frame, which would need the database.
            response = HttpResponse(loader.render_to_string("500.html"), status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    if wants_json(request.path):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)
