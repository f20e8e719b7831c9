"""What every page's frame shows: the site profile, the visitor's org, and the banners."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from plandeploy.api.serializers.fields import tr
from plandeploy.catalog import cache
from plandeploy.catalog.models import SiteProfile
from plandeploy.runs.models import Job, Status
from plandeploy.web import lookups


def _running_job(org_id: str | None) -> dict | None:
    if not org_id:
        return None
    job = (Job.objects.filter(org_id=org_id, status=Status.STARTED)
           .select_related("plan__version__product", "plan__plan_template")
           .prefetch_related("plan__translations", "plan__plan_template__slugs",
                             "plan__version__product__productslug_set").first())
    if job is None:
        return None
    return {"url": lookups.plan_url(job.plan, "job", job=job.hashid),
            "title": tr(job.plan, "title"), "id": job.hashid}


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
    # From the catalogue cache, at the version the page read (or this request's own read).
    version = getattr(request, "catalogue_version", None)
    if version is None:
        version = cache.current_version()
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
        "running_job": _running_job(user.org_id if user.is_authenticated else None),
        "languages": _languages(),
        "local_orgs_offered": settings.LOCAL_ORGS_OFFERED,
        "salesforce_enabled": settings.SALESFORCE_ENABLED,
        "salesforce_unavailable_reason": settings.SALESFORCE_UNAVAILABLE_REASON,
        "salesforce_connection": bool(
            user.is_authenticated and user.org_id and user.org_connection.org_type == "salesforce"
        ),
    }
