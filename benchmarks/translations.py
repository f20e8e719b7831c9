"""Benchmark of update_all_translations: wall time and query count at two catalogue sizes.

Builds N plans × 20 steps (products, versions, templates, categories, a site profile) with
a catalogue in every non-default language (default 5 languages: en + 4), in a dedicated
database on the embedded PostgreSQL, then runs the job body as a worker would:
  cold  — no translation rows yet: every translated row is inserted
  warm  — a second run: nothing differs, nothing is written
for one language (lang="es") and for every language in one job (lang=None).
"queries" counts every statement of the run, BEGIN, COPY and COMMIT included.

  PLANDEPLOY_HOME=/tmp/pd-bench .venv/bin/python benchmarks/translations.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plandeploy.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

BENCH_DATABASE = "plandeploy_bench_tr"
STEPS_PER_PLAN = 20
PLANS_PER_PRODUCT = 20  # 10 templates × 2 versions
STEP_TEXTS = 40  # distinct step texts per product (names and descriptions)
TRANSLATED_SHARE = 0.9  # the rest of the entries is missing: those fields fall back


def prepare_database() -> bool:
    """Start the embedded server if needed and create the bench database; True if we started it."""
    if os.environ.get("DATABASE_URL"):
        raise SystemExit("Run against the embedded PostgreSQL: unset DATABASE_URL.")
    from plandeploy import embedded_db

    os.environ.setdefault("PLANDEPLOY_HOME", str(Path(".plandeploy").resolve()))
    database = embedded_db.for_home(os.environ["PLANDEPLOY_HOME"])
    started = database.start()
    import psycopg

    with psycopg.connect(database.url("postgres"), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}"')
        connection.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    return started


def setup_django() -> None:
    import django
    from django.conf import settings

    django.setup()
    # Before any connection exists: every query of this process goes to the bench database.
    settings.DATABASES["default"]["NAME"] = BENCH_DATABASE
    from django.core.management import call_command
    from django.db import connection

    assert connection.settings_dict["NAME"] == BENCH_DATABASE
    call_command("migrate", verbosity=0)


def build(plans: int, languages: list[str]) -> dict[str, int]:
    """Bulk-insert the catalogue objects (default language) and the Translation catalogue."""
    import random

    from django.conf import settings
    from django.db import connection

    from plandeploy.catalog.models import (
        Plan,
        PlanTemplate,
        Product,
        ProductCategory,
        ProductSlug,
        SiteProfile,
        Step,
        Version,
        step_num_sort_key,
    )
    from plandeploy.translations.models import Translation

    rng = random.Random(7)
    en = settings.LANGUAGE_CODE
    with connection.cursor() as cursor:
        tables = [
            model._meta.db_table
            for model in (ProductCategory, SiteProfile, Translation)
        ]
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")

    def translations(model, masters, **fields_of):
        rows = [
            model._parler_meta.root_model(
                master_id=master.pk, language_code=en,
                **{name: make(master) for name, make in fields_of.items()},
            )
            for master in masters
        ]
        model._parler_meta.root_model.objects.bulk_create(rows, batch_size=5000)

    products_count = -(-plans // PLANS_PER_PRODUCT)
    categories = ProductCategory.objects.bulk_create(
        [ProductCategory(order_key=n) for n in range(5)]
    )
    translations(ProductCategory, categories, title=lambda c: f"Category {c.pk}",
                 description=lambda c: "Tools for you")
    site = SiteProfile.objects.bulk_create([SiteProfile()])
    translations(SiteProfile, site, name=lambda s: "Installer", welcome_text=lambda s: "Welcome")

    products = Product.objects.bulk_create(
        [Product(category=categories[n % 5], order_key=n) for n in range(products_count)]
    )
    translations(Product, products, title=lambda p: f"Product {p.pk}",
                 short_description=lambda p: "Short", description=lambda p: "Long description")
    ProductSlug.objects.bulk_create(
        [ProductSlug(parent=p, slug=f"product-{p.pk}") for p in products]
    )
    versions = Version.objects.bulk_create(
        [Version(product=p, label=f"1.{n}") for p in products for n in range(2)]
    )
    translations(Version, versions, description=lambda v: f"Release {v.label}")
    templates = PlanTemplate.objects.bulk_create(
        [PlanTemplate(product=p, name=f"Plan {n}") for p in products for n in range(10)]
    )
    translations(PlanTemplate, templates, preflight_message=lambda t: "Check first",
                 post_install_message=lambda t: "Done", error_message=lambda t: "Failed")
    versions_of = {}
    for version in versions:
        versions_of.setdefault(version.product_id, []).append(version)
    plan_objects = [
        Plan(plan_template=t, version=v)
        for t in templates for v in versions_of[t.product_id]
    ][:plans]
    plan_objects = Plan.objects.bulk_create(plan_objects, batch_size=5000)
    translations(Plan, plan_objects, title=lambda p: f"Plan {p.pk}",
                 preflight_message_additional=lambda p: "",
                 post_install_message_additional=lambda p: "")
    template_product = {t.pk: t.product_id for t in templates}
    version_label = {v.pk: v.label for v in versions}
    steps = []
    for plan in plan_objects:
        for number in range(1, STEPS_PER_PLAN + 1):
            steps.append(Step(plan=plan, step_num=str(number),
                              step_num_key=step_num_sort_key(str(number)), task_class="x"))
    steps = Step.objects.bulk_create(steps, batch_size=5000)
    plan_by_id = {p.pk: p for p in plan_objects}

    def step_name(step):
        plan = plan_by_id[step.plan_id]
        if step.step_num == "1":
            product = template_product[plan.plan_template_id]
            return f"Install Product {product} {version_label[plan.version_id]}"
        return f"Configure part {rng.randrange(STEP_TEXTS)}"

    translations(Step, steps, name=step_name,
                 description=lambda s: f"Does thing {rng.randrange(STEP_TEXTS)}")

    entries = []

    def entry(lang, context, slug, text):
        if rng.random() < TRANSLATED_SHARE:
            entries.append(Translation(lang=lang, context=context, slug=slug, text=text))

    for lang in languages:
        entry(lang, "siteprofile", "welcome_text", f"[{lang}] Welcome")
        for category in categories:
            entry(lang, f"Category {category.pk}:product_category", "title", f"[{lang}] Cat")
        for product in products:
            slug = f"product-{product.pk}"
            entry(lang, f"{slug}:product", "title", f"[{lang}] Product {product.pk}")
            entry(lang, f"{slug}:product", "description", f"[{lang}] Long")
            for version in versions_of[product.pk]:
                entry(lang, f"{slug}:version:{version.label}", "description", f"[{lang}] R")
            for n in range(10):
                entry(lang, f"{slug}:plan:Plan {n}", "title", f"[{lang}] Plan {n}")
                entry(lang, f"{slug}:plan:Plan {n}", "preflight_message", f"[{lang}] Check")
            entry(lang, f"{slug}:steps", "Install {product} {version}",
                  f"[{lang}] Install {{product}} {{version}}")
            for n in range(STEP_TEXTS):
                entry(lang, f"{slug}:steps", f"Configure part {n}", f"[{lang}] Configure {n}")
                entry(lang, f"{slug}:steps", f"Does thing {n}", f"[{lang}] Does {n}")
    Translation.objects.bulk_create(entries, batch_size=5000, ignore_conflicts=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"plans": len(plan_objects), "steps": len(steps), "products": len(products),
            "entries": len(entries)}


def clear_translated_rows() -> None:
    """Delete every non-default translation row: the next run starts cold."""
    from django.conf import settings
    from django.db import connection
    from parler.models import TranslatableModel

    from plandeploy.catalog import models as catalog

    with connection.cursor() as cursor:
        for model in vars(catalog).values():
            if isinstance(model, type) and issubclass(model, TranslatableModel) and (
                model is not TranslatableModel
            ):
                table = model._parler_meta.root_model._meta.db_table
                cursor.execute(
                    f"DELETE FROM {table} WHERE language_code <> %s", [settings.LANGUAGE_CODE]
                )


def measure(lang: str | None, runs: int) -> dict[str, tuple[list[float], list[int], int]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from plandeploy.jobs.translations import update_all_translations

    results: dict[str, tuple[list[float], list[int], int]] = {}
    for phase in ("cold", "warm"):
        times, queries, changed = [], [], 0
        for _ in range(runs):
            if phase == "cold":
                clear_translated_rows()
            else:
                update_all_translations(lang=lang)  # make sure everything is already applied
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                counts = update_all_translations(lang=lang)
                times.append(time.perf_counter() - start)
            # COPY does not pass through Django's query log: one per staging table.
            copies = sum("CREATE TEMPORARY TABLE" in q["sql"] for q in captured.captured_queries)
            queries.append(len(captured.captured_queries) + copies)
            changed = counts["created"] + counts["updated"]
        results[phase] = (times, queries, changed)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200,1000", help="plan counts, comma-separated")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    started = prepare_database()
    try:
        setup_django()
        from plandeploy.translations.apply import translatable_languages

        languages = translatable_languages()
        print(f"languages: default + {', '.join(languages)}; {args.runs} runs each; "
              f"database {BENCH_DATABASE}")
        print(f"{'plans':>6} {'steps':>6} {'entries':>8}  {'job':<14} {'phase':<5} "
              f"{'median s':>9} {'min s':>7} {'max s':>7} {'queries':>8} {'rows changed':>13}")
        for size in (int(s) for s in args.sizes.split(",")):
            shape = build(size, languages)
            for lang, label in (("es", "lang=es"), (None, "all languages")):
                for phase, (times, queries, changed) in measure(lang, args.runs).items():
                    query_text = "/".join(str(q) for q in sorted(set(queries)))
                    print(f"{shape['plans']:>6} {shape['steps']:>6} {shape['entries']:>8}  "
                          f"{label:<14} {phase:<5} {statistics.median(times):>9.3f} "
                          f"{min(times):>7.3f} {max(times):>7.3f} {query_text:>8} {changed:>13}")
    finally:
        if started:
            from plandeploy import embedded_db

            embedded_db.for_home(os.environ["PLANDEPLOY_HOME"]).stop()


if __name__ == "__main__":
    main()
