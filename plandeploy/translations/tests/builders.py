"""Builders for translation tests: catalogue objects in the default language, catalogue entries."""

from __future__ import annotations

from django.conf import settings

from plandeploy.catalog.models import (
    Plan,
    PlanTemplate,
    Product,
    ProductCategory,
    ProductSlug,
    Step,
    Version,
)
from plandeploy.translations.models import Translation


def default(manager):
    return manager.language(settings.LANGUAGE_CODE)


def make_product(slug: str = "acme", title: str = "Acme Widgets",
                 category: ProductCategory | None = None, **fields) -> Product:
    if category is None:
        category = default(ProductCategory.objects).create(title="Tools", description="Useful")
    product = default(Product.objects).create(category=category, title=title, **fields)
    ProductSlug.objects.create(parent=product, slug=slug)
    return product


def make_plan(product: Product, *, label: str = "1.0", template_name: str = "Full install",
              title: str = "Full", steps: list[tuple[str, str]] = (), **plan_fields) -> Plan:
    version = Version.objects.filter(product=product, label=label).first()
    if version is None:
        version = default(Version.objects).create(
            product=product, label=label, description=f"Release {label}"
        )
    template = PlanTemplate.objects.filter(product=product, name=template_name).first()
    if template is None:
        template = default(PlanTemplate.objects).create(
            product=product, name=template_name, preflight_message="Check your org",
            post_install_message="All done", error_message="It broke",
        )
    plan = default(Plan.objects).create(
        plan_template=template, version=version, title=title, **plan_fields
    )
    for number, (name, description) in enumerate(steps, start=1):
        default(Step.objects).create(
            plan=plan, name=name, description=description, step_num=str(number),
            task_class="cumulusci.core.tasks.BaseTask",
        )
    return plan


def add_entries(lang: str, entries: dict[str, dict[str, str]]) -> None:
    Translation.objects.bulk_create(
        [
            Translation(lang=lang, context=context, slug=slug, text=text)
            for context, slugs in entries.items()
            for slug, text in slugs.items()
        ]
    )


def read(obj, lang: str, field: str) -> str:
    """A field as parler shows it in `lang` (with its fallback), from a fresh instance."""
    fresh = type(obj).objects.get(pk=obj.pk)
    fresh.set_current_language(lang)
    return getattr(fresh, field)
