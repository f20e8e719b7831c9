"""Connecting the signed-in user's org (a local org today)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from plandeploy.accounts import services
from plandeploy.security.ratelimits import rate_limited


@require_POST
@login_required
@rate_limited("org_connect")  # the same limit as POST /api/orgs/connect/
def connect_org(request: HttpRequest) -> HttpResponse:
    """Connect (or reconnect, with a fresh token) the user's local org, then go back."""
    name = request.POST.get("name", "").strip()[:255] or None
    try:
        connection = services.connect_local_org(request.user, name)
    except services.OrgTypeNotOffered:
        messages.error(request, _("This site does not offer local orgs."))
    else:
        messages.success(request, _("Connected to %(org)s.") % {"org": connection.org_name})
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)
