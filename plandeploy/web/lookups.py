"""Finding the catalogue object a page URL names (by slug and label), and the caller's org."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils.translation import get_language

from plandeploy.api import sessions
from plandeploy.api.cached import catalogue_plan_by_pk
from plandeploy.api.querysets import plan_queryset
from plandeploy.catalog import cache
from plandeploy.catalog.models import Plan, Product, ProductSlug, Version
from plandeploy.catalog.texts import tr
from plandeploy.hashids import encode
from plandeploy.runs.models import Job, ScratchOrg, Status


def product_by_slug(slug: str) -> Product:
    """Any product by a current or old slug: unlisted ones stay reachable by their link."""
    parent_ids = ProductSlug.objects.filter(slug=slug).values("parent_id")
    product = (
        Product.objects.select_related("category", "visible_to")
        .prefetch_related("translations", "productslug_set")
        .filter(pk__in=parent_ids).first()
    )
    if product is None:
        raise Http404
    return product


def latest_version(product: Product) -> Version | None:
    """The newest listed production version, else the newest listed one."""
    return (
        Version.objects.filter(product=product, is_listed=True)
        .prefetch_related("translations")
        .order_by("-is_production", "-created_at", "-pk").first()
    )


def version_by_label(product: Product, label: str) -> Version:
    version = (Version.objects.filter(product=product, label=label)
               .prefetch_related("translations").first())
    if version is None:
        raise Http404
    return version


def cached_plan_by_path(catalogue_version: int | None, product: str, version: str,
                        plan: str) -> Plan:
    """plan_by_path from the catalogue cache (catalog/cache.py), for the catalogue version the
    caller read. The plan is shared by this process's requests: only read it."""
    found = cache.CACHE.get(catalogue_version, ("plan-path", product, version, plan,
                                                get_language()),
                            lambda: _plan_by_path(product, version, plan))
    if found is None:
        raise Http404
    return found


def cached_latest_version(catalogue_version: int | None, product: Product) -> Version | None:
    """latest_version from the catalogue cache, for the catalogue version the caller read."""
    return cache.CACHE.get(catalogue_version, ("latest-version", product.pk, get_language()),
                           lambda: latest_version(product))


def plan_by_path(product: str, version: str, plan: str) -> Plan:
    """The plan a page URL names, in one query: product slug (current or old), version label,
    plan slug (current or old); the newest such plan if a version has several."""
    found = _plan_by_path(product, version, plan)
    if found is None:
        raise Http404
    return found


def _plan_by_path(product: str, version: str, plan: str) -> Plan | None:
    return (
        plan_queryset()
        .prefetch_related("version__translations", "version__product__productslug_set")
        .filter(version__product__productslug__slug=product, version__label=version,
                plan_template__slugs__slug=plan)
        .order_by("-created_at", "-pk").first()
    )


def listed_plans(version: Version) -> list[Plan]:
    """The version's listed plans: primary first, then secondary, then additional ones."""
    tier_order = {"primary": 0, "secondary": 1, "additional": 2}
    plans = list(plan_queryset().filter(version=version, is_listed=True))
    return sorted(plans, key=lambda plan: (tier_order.get(plan.tier, 3), plan.order_key,
                                           plan.created_at))


@dataclass(frozen=True)
class CallerOrg:
    """The org the visitor acts on: their connected org, else the session's scratch org."""

    org_id: str | None
    scratch_org: ScratchOrg | None


def caller_org(request: HttpRequest, plan: Plan) -> CallerOrg:
    user = request.user
    if user.is_authenticated and user.org_id:
        return CallerOrg(user.org_id, None)
    scratch_org = sessions.session_scratch_org(request, plan_id=plan.pk)
    if scratch_org is not None and scratch_org.org_id:
        return CallerOrg(scratch_org.org_id, scratch_org)
    return CallerOrg(None, scratch_org)


@dataclass(frozen=True)
class RunningJob:
    """The job running on an org, as the pages link to it."""

    id: str
    url: str
    title: str


def running_job(request: HttpRequest, org_id: str | None) -> RunningJob | None:
    """The org's running job (the newest, should there be two), or None.

    Looked up once per request and org: the plan page's install gate and the frame's banner
    both show it. Its plan comes from the catalogue cache, so only the job's row is read.
    """
    if not org_id:
        return None
    found = getattr(request, "_running_jobs", None)
    if found is None:
        found = request._running_jobs = {}
    if org_id not in found:
        found[org_id] = _running_job(request, org_id)
    return found[org_id]


def _running_job(request: HttpRequest, org_id: str) -> RunningJob | None:
    row = (Job.objects.filter(org_id=org_id, status=Status.STARTED)
           .order_by("-created_at", "-pk").values_list("pk", "plan_id").first())
    if row is None:
        return None
    job_pk, plan_id = row
    plan = catalogue_plan_by_pk(plan_id, cache.request_version(request))
    if plan is None:  # deleted since the job was read: the job went with it
        return None
    job_id = encode(job_pk)
    return RunningJob(id=job_id, url=plan_url(plan, "job", job=job_id), title=tr(plan, "title"))


def plan_url(plan: Plan, name: str = "plan", **kwargs: str) -> str:
    """The URL of the plan page, or of a route below it (`name`), e.g. a job page."""
    return reverse(f"web:{name}", kwargs={
        "product": plan.version.product.slug, "version": plan.version.label,
        "plan": plan.slug, **kwargs,
    })
