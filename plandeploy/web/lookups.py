"""Finding the catalogue object a page URL names (by slug and label), and the caller's org."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404, HttpRequest
from django.urls import reverse

from plandeploy.api import sessions
from plandeploy.api.views.querysets import plan_queryset, product_queryset
from plandeploy.catalog.models import Plan, PlanSlug, Product, ProductSlug, Version
from plandeploy.runs.models import ScratchOrg


def product_by_slug(slug: str) -> Product:
    """Any product by a current or old slug: unlisted ones stay reachable by their link."""
    parent_ids = ProductSlug.objects.filter(slug=slug).values("parent_id")
    product = product_queryset().filter(pk__in=parent_ids).first()
    if product is None:
        raise Http404
    return product


def latest_version(product: Product) -> Version | None:
    """The newest listed production version, else the newest listed one."""
    listed = [version for version in product.versions.all() if version.is_listed]
    production = [version for version in listed if version.is_production]
    candidates = production or listed
    return max(candidates, key=lambda version: version.created_at) if candidates else None


def version_by_label(product: Product, label: str) -> Version:
    for version in product.versions.all():
        if version.label == label:
            return version
    raise Http404


def plan_by_slug(version: Version, slug: str) -> Plan:
    """The version's newest plan whose template has this slug (current or old)."""
    template_ids = PlanSlug.objects.filter(
        slug=slug, parent__product_id=version.product_id
    ).values("parent_id")
    plan = (
        plan_queryset()
        .filter(version=version, plan_template_id__in=template_ids)
        .order_by("-created_at")
        .first()
    )
    if plan is None:
        raise Http404
    return plan


def listed_plans(version: Version) -> list[Plan]:
    """The version's listed plans: primary first, then secondary, then additional ones."""
    tier_order = {"primary": 0, "secondary": 1, "additional": 2}
    plans = [plan for plan in version.plans.all() if plan.is_listed]
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


def plan_url(plan: Plan, name: str = "plan", **kwargs: str) -> str:
    """The URL of the plan page, or of a route below it (`name`), e.g. a job page."""
    return reverse(f"web:{name}", kwargs={
        "product": plan.version.product.slug, "version": plan.version.label,
        "plan": plan.slug, **kwargs,
    })
