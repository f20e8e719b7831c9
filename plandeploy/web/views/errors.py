"""The friendly page for a form posted without a valid CSRF token (e.g. an expired session)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """403 with the site's frame; the reason stays in the server log, not on the page."""
    return render(request, "403.html", {"csrf_failed": True}, status=403)
