"""Starting a sign-in with Salesforce: production, sandbox or the person's own My Domain."""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from plandeploy.accounts import salesforce_login, services
from plandeploy.orgs import salesforce
from plandeploy.orgs.salesforce import InvalidDomain, SalesforceUnavailable
from plandeploy.security.ratelimits import rate_limited


@require_POST
@rate_limited("sign_in")
def start(request: HttpRequest) -> HttpResponse:
    """Validate the chosen domain, then redirect to Salesforce's authorize page."""
    kind = request.POST.get("domain", "production")
    custom_domain = request.POST.get("custom_domain", "")[:255]
    try:
        base_url = services.salesforce_sign_in_url(kind, custom_domain)
    except SalesforceUnavailable:
        return _login_page(request, _("Sign in with Salesforce is not available on this site."),
                           status=404)
    except InvalidDomain as exc:
        return _login_page(request, _domain_error(exc.code), status=400,
                           custom_domain=custom_domain)
    return salesforce_login.start(request, base_url)


def callback(request: HttpRequest) -> HttpResponse:
    """Salesforce's redirect back with the code; without a connected app there is nothing to
    finish (and allauth would fail looking the app up), so the sign-in page says so."""
    try:
        salesforce.ensure_enabled()
    except SalesforceUnavailable:
        return _login_page(request, _("Sign in with Salesforce is not available on this site."),
                           status=404)
    return salesforce_login.callback(request)


def _domain_error(code: str) -> str:
    if code == "scheme":
        return _("A custom domain must use https.")
    if code == "format":
        return _("Enter the domain only, like https://mycompany.my.salesforce.com.")
    if code == "not_my_domain":
        return _("That is not a Salesforce My Domain: use a domain ending in "
                 "my.salesforce.com or my.salesforce-sites.com.")
    if code == "kind":
        return _("Choose production, sandbox or a custom domain.")
    return _("That is not a valid domain.")


def _login_page(request: HttpRequest, error: str, status: int, custom_domain: str = ""
                ) -> HttpResponse:
    return render(request, "registration/login.html", {
        "form": AuthenticationForm(request), "next": request.POST.get("next", ""),
        "salesforce_error": error, "custom_domain": custom_domain, "domain_choice": "custom",
    }, status=status)
