"""Catalogue contexts: how a Translation's context names the objects (and fields) it translates.

By field (slug = a translated field name):
  ``<product slug>:product``                 Product
  ``<product slug>:version:<label>``         Version
  ``<product slug>:plan:<template name>``    PlanTemplate and every Plan of that template; the two
                                             models' field names are disjoint, so one context
                                             holds both (``title`` is the plan's,
                                             ``preflight_message`` the template's, ...)
  ``<category title>:product_category``      ProductCategory (its default-language title)
  ``siteprofile``                            SiteProfile
By text (slug = the default-language text of a step's name or description):
  ``<product slug>:steps``                   Step; "Install <product> <version>" names share
                                             the entry "Install {product} {version}".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import models
from parler.models import TranslatableModel

from plandeploy.catalog.models import (
    Plan,
    PlanTemplate,
    Product,
    ProductCategory,
    SiteProfile,
    Version,
)

SITE_PROFILE_CONTEXT = "siteprofile"
INSTALL_PATTERN_SLUG = "Install {product} {version}"
# "Install Acme Widgets 1.2" → product "Acme Widgets", version "1.2" (a version ends in a digit).
INSTALL_TEXT = re.compile(r"^Install (?P<product>.+) (?P<version>\S*\d)$")

_SLUG = r"[-a-zA-Z0-9_]+"
_VERSION = re.compile(rf"^{_SLUG}:version:.+$", re.DOTALL)
_PLAN = re.compile(rf"^{_SLUG}:plan:.*$", re.DOTALL)
_PRODUCT = re.compile(rf"^{_SLUG}:product$")
_STEPS = re.compile(rf"^{_SLUG}:steps$")


def product_context(product_slug: str) -> str:
    return f"{product_slug}:product"


def version_context(product_slug: str, label: str) -> str:
    return f"{product_slug}:version:{label}"


def plan_context(product_slug: str, template_name: str) -> str:
    return f"{product_slug}:plan:{template_name}"


def category_context(title: str) -> str:
    return f"{title}:product_category"


def steps_context(product_slug: str) -> str:
    return f"{product_slug}:steps"


def translated_fields(model: type[TranslatableModel]) -> dict[str, models.Field]:
    """The translated fields of a parler model, by name (from its translations table)."""
    translations_model = model._parler_meta.root_model
    return {
        name: translations_model._meta.get_field(name)
        for name in model._parler_meta.get_translated_fields()
    }


@dataclass(frozen=True)
class ContextKind:
    """What a context translates: the field-strategy fields it may name, or steps by text."""

    name: str
    fields: dict[str, models.Field]  # empty for the by-text strategy
    by_text: bool = False


def _kind(name: str, *models_: type[TranslatableModel]) -> ContextKind:
    fields: dict[str, models.Field] = {}
    for model in models_:
        fields.update(translated_fields(model))
    return ContextKind(name=name, fields=fields)


def context_kind(context: str) -> ContextKind | None:
    """The kind of a catalogue context, or None when it names nothing we translate."""
    # Order matters: a category title or a version label may itself contain ":plan:" etc.;
    # the fixed suffix or the leading product slug decides.
    if context == SITE_PROFILE_CONTEXT:
        return _kind("site profile", SiteProfile)
    if context.endswith(":product_category") and len(context) > len(":product_category"):
        return _kind("product category", ProductCategory)
    if _VERSION.match(context):
        return _kind("version", Version)
    if _PLAN.match(context):
        return _kind("plan", PlanTemplate, Plan)
    if _PRODUCT.match(context):
        return _kind("product", Product)
    if _STEPS.match(context):
        return ContextKind(name="steps", fields={}, by_text=True)
    return None


def translate_text(text: str, entries: dict[str, str]) -> str | None:
    """A step text's translation from its context's entries (by text), or None."""
    if not text:
        return None
    exact = entries.get(text)
    if exact:
        return exact
    match = INSTALL_TEXT.match(text)
    pattern = entries.get(INSTALL_PATTERN_SLUG) if match else None
    if not pattern:
        return None
    # Placeholders are replaced separately so a language may reorder them.
    return pattern.replace("{product}", match["product"]).replace("{version}", match["version"])
