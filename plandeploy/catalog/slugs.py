"""Slugs derived from titles, for catalogue objects created without one.

Without a slug a product or plan has no page URL, and its translations have no context to
live under; so an object created without one gets `slugify(title)`, with `-1`, `-2`, ...
appended until it is free. Product slugs are unique site-wide; a plan's slug (held by its
plan template) is unique among the plan templates of its product, which is what its page URL
needs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from plandeploy.catalog.models import Plan, PlanSlug, Product, ProductSlug

MAX_LENGTH = 256  # ProductSlug.slug and PlanSlug.slug
# Room kept for a "-<n>" suffix when a long base is cut down.
_SUFFIX_ROOM = 20
_ATTEMPTS = 5


def free_slug(title: str, taken: Iterable[str], fallback: str) -> str:
    """`slugify(title)`, or with the first `-<n>` suffix that is not in `taken`."""
    base = slugify(title)[:MAX_LENGTH].strip("-") or fallback
    taken = set(taken)
    if base not in taken:
        return base
    for number in itertools.count(1):
        suffix = f"-{number}"
        candidate = base[: MAX_LENGTH - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")


def _taken(slugs, title: str, fallback: str) -> list[str]:
    # Every candidate starts with the (possibly shortened) base: one query reads them all.
    prefix = (slugify(title).strip("-") or fallback)[: MAX_LENGTH - _SUFFIX_ROOM]
    return list(slugs.filter(slug__startswith=prefix).values_list("slug", flat=True))


def ensure_product_slug(product: Product) -> str:
    """The product's slug, first derived from its title when it has none."""
    current = ProductSlug.objects.filter(parent=product, is_active=True).order_by("-id").first()
    if current is not None:
        return current.slug
    for _attempt in range(_ATTEMPTS):
        slug = free_slug(product.title, _taken(ProductSlug.objects, product.title, "product"),
                         "product")
        try:
            with transaction.atomic():
                ProductSlug.objects.create(parent=product, slug=slug)
            return slug
        except IntegrityError:
            continue  # another product took it in the meantime: look again
    raise IntegrityError(f"no free product slug for {product.title!r}")


def ensure_plan_slug(plan: Plan) -> str:
    """The plan's slug (its template's), first derived from the plan's title when it has none."""
    template = plan.plan_template
    with transaction.atomic():
        # Serialises slug choice within one product: the constraint is per template only.
        Product.objects.select_for_update().filter(pk=template.product_id).first()
        current = PlanSlug.objects.filter(parent=template, is_active=True).order_by("-id").first()
        if current is not None:
            return current.slug
        siblings = PlanSlug.objects.filter(parent__product_id=template.product_id)
        slug = free_slug(plan.title, _taken(siblings, plan.title, "plan"), "plan")
        PlanSlug.objects.create(parent=template, slug=slug)
    return slug
