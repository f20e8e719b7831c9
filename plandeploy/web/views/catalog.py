"""The home page (products by category) and a product's page (a version and its plans)."""

from __future__ import annotations

import re

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from plandeploy.api.querysets import listed_products
from plandeploy.catalog.markdown import render as markdown
from plandeploy.catalog.models import Product, ProductCategory
from plandeploy.catalog.texts import tr
from plandeploy.web import lookups

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def _card(product: Product, user) -> dict:
    return {
        # A presentation attribute on an SVG, not an inline style: no style-src exception.
        "color": product.color if _COLOR.fullmatch(product.color or "") else "#0b5cab",
        "product": product,
        "title": tr(product, "title"),
        "short_description": tr(product, "short_description"),
        "initial": (tr(product, "title")[:1] or "?").upper(),
        "allowed": product.is_visible_to(user),
    }


def _listed_for(product: Product, user) -> bool:
    """A restricted product is listed to everyone unless its list says: only to allowed orgs."""
    restriction = product.visible_to
    return (restriction is None or not restriction.list_for_allowed_by_orgs
            or product.is_visible_to(user))


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Listed products with a listed version, grouped by listed category."""
    products = [
        product for product in listed_products().order_by("category__order_key", "order_key", "pk")
        if product.slug and _listed_for(product, request.user)
    ]
    categories = []
    for category in ProductCategory.objects.filter(is_listed=True).prefetch_related(
        "translations"
    ):
        cards = [_card(product, request.user) for product in products
                 if product.category_id == category.pk]
        if cards:
            categories.append({"title": tr(category, "title"),
                               "description": markdown(tr(category, "description")),
                               "cards": cards})
    return render(request, "web/home.html", {"categories": categories})


@require_safe
def product(request: HttpRequest, product: str, version: str | None = None) -> HttpResponse:
    """A product's latest production version (or the version named), with its plans."""
    row = lookups.product_by_slug(product)
    if product != row.slug:
        return redirect("web:product", product=row.slug) if version is None else redirect(
            "web:version", product=row.slug, version=version)
    latest = lookups.latest_version(row)
    shown = lookups.version_by_label(row, version) if version is not None else latest
    if shown is None:
        raise Http404
    allowed = row.is_visible_to(request.user)
    plans = [
        {"plan": plan, "title": tr(plan, "title"), "url": lookups.plan_url(plan),
         "allowed": plan.is_visible_to(request.user)}
        for plan in lookups.listed_plans(shown) if plan.slug
    ] if allowed else []
    return render(request, "web/product.html", {
        "product": row,
        "title": tr(row, "title"),
        "description": markdown(tr(row, "description")) if allowed else "",
        "allowed": allowed,
        "not_allowed_instructions": markdown(row.visible_to.description) if row.visible_to
        else "",
        "version": shown,
        "version_description": markdown(tr(shown, "description")),
        "is_old_version": latest is not None and shown.pk != latest.pk,
        "latest": latest,
        "plans": plans,
    })
