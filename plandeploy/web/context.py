"""What every page's frame shows: the site profile, the visitor's org, and the banners."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from plandeploy.catalog import cache
from plandeploy.catalog.models import SiteProfile
from plandeploy.catalog.texts import tr
from plandeploy.web import lookups


def _languages() -> list[tuple[str, str]]:
    """Each language in its own name, so its readers find it whatever language the page is in."""
    choices = []
    for code, name in settings.LANGUAGES:
        try:
            choices.append((code, translation.get_language_info(code)["name_local"]))
        except KeyError:  # a code Django has no data for keeps the name settings gave it
            choices.append((code, name))
    return choices


def site(request: HttpRequest) -> dict:
    if not hasattr(request, "user"):
        # Refused before sign-in ran (a Host not in ALLOWED_HOSTS): the error page has no
        # frame, and reading the user here turned its 400 into a 500.
        return {}
    # From the catalogue cache, at the version the page read (or this request's own read).
    version = cache.request_version(request)
    profile = cache.CACHE.get(version, ("site-profile", translation.get_language()),
                              lambda: SiteProfile.objects.prefetch_related("translations").first())
    user = request.user
    connection_lost = bool(
        user.is_authenticated and user.org_id and not user.valid_token_for
    )
    return {
        "site_name": tr(profile, "name") or "plandeploy",
        "site_logo": profile.product_logo if profile else "",
        "site_company": tr(profile, "company_name"),
        "site_copyright": tr(profile, "copyright_notice"),
        "connection_lost": connection_lost,
        "running_job": lookups.running_job(request, user.org_id) if user.is_authenticated
        else None,
        "languages": _languages(),
        "local_orgs_offered": settings.LOCAL_ORGS_OFFERED,
        "salesforce_enabled": settings.SALESFORCE_ENABLED,
        "salesforce_unavailable_reason": settings.SALESFORCE_UNAVAILABLE_REASON,
        "salesforce_connection": bool(
            user.is_authenticated and user.org_id and user.org_connection.org_type == "salesforce"
        ),
    }
