"""The plan page and its forms: run the preflight, install, request a scratch org.

Each form counts against the same rate limit as its API call (security.ratelimits).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from plandeploy.api import sessions
from plandeploy.api.serializers.runs import ScratchOrgSerializer
from plandeploy.catalog import cache
from plandeploy.catalog.markdown import render as markdown
from plandeploy.catalog.models import Plan, SupportedOrgs
from plandeploy.catalog.texts import tr
from plandeploy.runs import scratch_requests, services
from plandeploy.runs.models import Job, PreflightResult
from plandeploy.security.ratelimits import rate_limited
from plandeploy.web import fragments, lookups, presenters


def _latest_preflight(plan: Plan, org_id: str | None) -> PreflightResult | None:
    if not org_id:
        return None
    return (PreflightResult.objects.filter(org_id=org_id, plan=plan)
            .order_by("-created_at", "-pk").first())


def _newest_job_url(org_id: str | None) -> str | None:
    """The page of the org's newest job."""
    if not org_id:
        return None
    job = (Job.objects.filter(org_id=org_id)
           .select_related("plan__version__product", "plan__plan_template")
           .order_by("-created_at").first())
    return lookups.plan_url(job.plan, "job", job=job.hashid) if job else None


@require_safe
def plan_page(request: HttpRequest, product: str, version: str, plan: str) -> HttpResponse:
    """Steps, preflight results, agreement and the install form (or why it is closed)."""
    # The catalogue parts come from the catalogue cache (catalog/cache.py), read at this
    # version; the frame (web/context.py) uses the same one.
    catalogue_version = cache.request_version(request)
    row = lookups.cached_plan_by_path(catalogue_version, product, version, plan)
    # Only a link to this very plan may bind a shared scratch org (see api.sessions).
    sessions.bind_from_query(request, row.pk)
    user = request.user
    allowed = row.is_visible_to(user) and row.version.product.is_visible_to(user)
    org = lookups.caller_org(request, row)
    preflight = _latest_preflight(row, org.org_id)
    running = lookups.running_job(request, org.org_id)
    running_url = running.url if running else None
    latest = lookups.cached_latest_version(catalogue_version, row.version.product)
    scratch_org = org.scratch_org
    title = tr(row, "title")
    product_title = tr(row.version.product, "title")
    head = {
        "plan": row, "title": title, "product_title": product_title,
        "version_url": reverse("web:version", kwargs={
            "product": row.version.product.slug, "version": row.version.label}),
        "is_old_version": latest is not None and latest.pk != row.version_id,
        "latest_version": latest,
    }
    texts = fragments.plan_texts(request, row)
    steps = presenters.step_rows(row, preflight) if allowed else []
    context = {
        **head,
        # The parts that show only the catalogue, rendered once per catalogue version.
        "head": fragments.plan_head(request, row, head),
        "intro": fragments.plan_intro(request, row, texts) if allowed else "",
        "steps_table": fragments.plan_steps(request, row, steps) if allowed else "",
        "allowed": allowed,
        "not_allowed_instructions": _not_allowed_instructions(row, user),
        "texts": texts,
        "steps": steps,
        "plan_messages": presenters.plan_messages(preflight),
        "preflight": preflight,
        "preflight_expires_at": presenters.preflight_expires_at(preflight),
        "warnings_to_accept": presenters.warnings_to_accept(preflight),
        "org_id": org.org_id,
        "gate": presenters.install_gate(row, user, org.org_id, preflight, running_url,
                                        request.path),
        "running_job_url": running_url,
        "scratch_org": scratch_org,
        "scratch_available": scratch_requests.available() and row.supported_orgs in (
            SupportedOrgs.SCRATCH, SupportedOrgs.BOTH) and not user.is_authenticated,
        "scratch_job_url": _newest_job_url(scratch_org.org_id) if scratch_org else None,
        # A scratch org whose preflight passed installs a plan of only required steps itself.
        "scratch_auto_install": bool(scratch_org) and bool(preflight) and preflight.is_ready
        and all(step.is_required for step in row.steps.all()),
    }
    return render(request, "web/plan.html", context)


def _not_allowed_instructions(plan: Plan, user) -> str:
    product = plan.version.product
    if not product.is_visible_to(user):
        return markdown(product.visible_to.description) if product.visible_to else ""
    if not plan.is_visible_to(user):
        return markdown(plan.visible_to.description) if plan.visible_to else ""
    return ""


@require_POST
@rate_limited("preflight")
def preflight(request: HttpRequest, product: str, version: str, plan: str) -> HttpResponse:
    """Start the preflight checks for the caller's org."""
    row = lookups.plan_by_path(product, version, plan)
    org = lookups.caller_org(request, row)
    try:
        services.request_preflight(plan=row, user=request.user, scratch_org=org.scratch_org)
    except services.Refused as refused:
        messages.error(request, str(refused))
    return redirect(lookups.plan_url(row))


@require_POST
@rate_limited("job")
def install(request: HttpRequest, product: str, version: str, plan: str) -> HttpResponse:
    """Start the installation of the ticked steps; the job page follows it."""
    row = lookups.plan_by_path(product, version, plan)
    org = lookups.caller_org(request, row)
    if request.POST.get("accept") != "yes":
        if presenters.plan_texts(row)["agreement"]:
            messages.error(request, _("Please accept the agreement to install."))
            return redirect(lookups.plan_url(row))
        if presenters.warnings_to_accept(_latest_preflight(row, org.org_id)):
            messages.error(request, _("Please confirm that you install despite the warnings."))
            return redirect(lookups.plan_url(row))
    chosen = set(request.POST.getlist("steps"))
    steps = [step for step in row.steps.all() if step.hashid in chosen]
    try:
        job = services.request_job(
            plan=row, steps=steps, user=request.user, scratch_org=org.scratch_org,
            is_public=request.POST.get("is_public") == "yes",
        )
    except services.Refused as refused:
        messages.error(request, str(refused))
        return redirect(lookups.plan_url(row))
    return redirect(lookups.plan_url(row, "job", job=job.hashid))


@require_POST
@rate_limited("scratch_org")
def scratch_org(request: HttpRequest, product: str, version: str, plan: str) -> HttpResponse:
    """Request a scratch org for this plan; the session holds it from now on."""
    row = lookups.plan_by_path(product, version, plan)
    serializer = ScratchOrgSerializer(data={"email": request.POST.get("email", "")})
    if not serializer.is_valid():
        messages.error(request, _("Enter a valid e-mail address."))
        return redirect(lookups.plan_url(row))
    try:
        created = scratch_requests.request_scratch_org(
            plan=row, user=request.user, email=serializer.validated_data["email"]
        )
    except scratch_requests.QueueFull:
        messages.error(request, _("Too many scratch orgs are being created. Try again later."))
    except (scratch_requests.ScratchOrgsDisabled, scratch_requests.ScratchOrgsUnsupported,
            services.PlanNotAllowed):
        messages.error(request, _("This plan does not support creating a scratch org."))
    else:
        sessions.bind(request, created)
    return redirect(lookups.plan_url(row))
