"""Products and plans created without a slug get one from their title, as new ones now do."""

from collections import defaultdict

from django.conf import settings
from django.db import migrations


def _titles(translations, master_ids) -> dict[int, str]:
    """Each object's title, in the default language when it has one."""
    titles: dict[int, str] = {}
    rows = translations.objects.filter(master_id__in=master_ids)
    for master_id, language, title in rows.values_list("master_id", "language_code", "title"):
        if language == settings.LANGUAGE_CODE or master_id not in titles:
            titles[master_id] = title
    return titles


def derive_missing_slugs(apps, schema_editor) -> None:
    from plandeploy.catalog.slugs import free_slug

    product_model = apps.get_model("catalog", "Product")
    product_slug_model = apps.get_model("catalog", "ProductSlug")
    plan_model = apps.get_model("catalog", "Plan")
    plan_slug_model = apps.get_model("catalog", "PlanSlug")
    template_model = apps.get_model("catalog", "PlanTemplate")

    products = list(
        product_model.objects.exclude(productslug__is_active=True).order_by("pk")
        .values_list("pk", flat=True)
    )
    titles = _titles(apps.get_model("catalog", "ProductTranslation"), products)
    taken = set(product_slug_model.objects.values_list("slug", flat=True))
    new_product_slugs = []
    for pk in products:
        slug = free_slug(titles.get(pk, ""), taken, "product")
        taken.add(slug)
        new_product_slugs.append(product_slug_model(parent_id=pk, slug=slug))
    product_slug_model.objects.bulk_create(new_product_slugs)

    templates = dict(
        template_model.objects.exclude(slugs__is_active=True).values_list("pk", "product_id")
    )
    # A template's slug comes from the title of its newest plan, as on creation.
    newest_plan = dict(
        plan_model.objects.filter(plan_template_id__in=templates)
        .order_by("plan_template_id", "-created_at", "-pk").distinct("plan_template_id")
        .values_list("plan_template_id", "pk")
    )
    plan_titles = _titles(apps.get_model("catalog", "PlanTranslation"), newest_plan.values())
    taken_in_product: dict[int, set[str]] = defaultdict(set)
    for product_id, slug in plan_slug_model.objects.values_list("parent__product_id", "slug"):
        taken_in_product[product_id].add(slug)
    new_plan_slugs = []
    for template_id in sorted(newest_plan):
        product_taken = taken_in_product[templates[template_id]]
        slug = free_slug(plan_titles.get(newest_plan[template_id], ""), product_taken, "plan")
        product_taken.add(slug)
        new_plan_slugs.append(plan_slug_model(parent_id=template_id, slug=slug))
    plan_slug_model.objects.bulk_create(new_plan_slugs)


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0002_plan_order_key"),
    ]

    operations = [
        migrations.RunPython(derive_missing_slugs, migrations.RunPython.noop),
    ]
