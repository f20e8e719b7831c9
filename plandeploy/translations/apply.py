"""Apply the Translation catalogue to the translatable catalogue objects, in bulk.

For each translatable model: one query reads the objects' default-language rows (with what
their contexts need), and one INSERT ... ON CONFLICT (fed by a COPY into a temporary table)
writes the translation rows of every object and language at once; the catalogue and the
product slugs are read once per run. The statement count is therefore fixed (at most 39,
BEGIN, COPY and COMMIT included), whatever the number of objects or languages.

The translation row of an object in a language holds the catalogue's text for each field
that has an entry, and the default-language text for the others, so that parler (which
falls back per row, not per field) shows the default language where a field is missing.
An object without any entry for a language gets no row: parler falls back to the default
row as a whole. Rows are only written when a value differs, so a second run changes
nothing, and the counts say what changed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from parler.models import TranslatableModel

from plandeploy.catalog.models import (
    Plan,
    PlanTemplate,
    Product,
    ProductCategory,
    ProductSlug,
    SiteProfile,
    Step,
    Version,
)
from plandeploy.translations import contexts
from plandeploy.translations.models import Translation

logger = logging.getLogger(__name__)

Catalogue = dict[tuple[str, str], dict[str, str]]  # (lang, context) -> {slug: text}


@dataclass
class ModelReport:
    """What one run did to one model's translations."""

    model: str
    objects: int = 0  # objects in scope with a default-language row
    without_context: int = 0  # objects whose context cannot be built (no active product slug)
    translated: int = 0  # (object, language) rows the catalogue has at least one entry for
    created: int = 0
    updated: int = 0
    too_long: int = 0  # entries longer than their field allows, left in the default language

    @property
    def changed(self) -> int:
        return self.created + self.updated


@dataclass
class Report:
    languages: list[str]
    models: list[ModelReport] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(m.created for m in self.models)

    @property
    def updated(self) -> int:
        return sum(m.updated for m in self.models)

    @property
    def changed(self) -> int:
        return self.created + self.updated

    def by_model(self, name: str) -> ModelReport:
        return next(m for m in self.models if m.model == name)


def translatable_languages() -> list[str]:
    """Every supported language except the default one, whose text lives on the objects."""
    return [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def check_language(lang: str) -> None:
    if lang == settings.LANGUAGE_CODE:
        raise ValueError(f"{lang} is the default language: its text is edited on the objects.")
    if lang not in translatable_languages():
        raise ValueError(f"Unsupported language: {lang}")


@dataclass(frozen=True)
class _FieldTarget:
    """A model translated by field: which values build its context, and how."""

    model: type[TranslatableModel]
    lookups: tuple[str, ...]
    context: Callable[[dict, dict[int, str]], str | None]


def _with_slug(product_key: str, build: Callable[..., str], *keys: str):
    def context(row: dict, slugs: dict[int, str]) -> str | None:
        slug = slugs.get(row[product_key])
        return build(slug, *(row[key] for key in keys)) if slug else None

    return context


_FIELD_TARGETS = (
    _FieldTarget(
        ProductCategory, (), lambda row, slugs: contexts.category_context(row["title"])
    ),
    _FieldTarget(Product, (), _with_slug("master_id", contexts.product_context)),
    _FieldTarget(
        Version,
        ("master__product_id", "master__label"),
        _with_slug("master__product_id", contexts.version_context, "master__label"),
    ),
    _FieldTarget(
        PlanTemplate,
        ("master__product_id", "master__name"),
        _with_slug("master__product_id", contexts.plan_context, "master__name"),
    ),
    _FieldTarget(
        Plan,
        ("master__plan_template__product_id", "master__plan_template__name"),
        _with_slug(
            "master__plan_template__product_id",
            contexts.plan_context,
            "master__plan_template__name",
        ),
    ),
    _FieldTarget(SiteProfile, (), lambda row, slugs: contexts.SITE_PROFILE_CONTEXT),
)


def apply_catalogue(langs: Iterable[str] | None = None, *, plan: Plan | None = None) -> Report:
    """Apply the catalogue for `langs` (default: every translatable language), in one transaction.

    With `plan`, only that plan's objects are covered (its steps, template, version, product
    and category): what a newly published plan needs.
    """
    languages = list(langs) if langs is not None else translatable_languages()
    for lang in languages:
        check_language(lang)
    report = Report(languages=languages)
    if not languages:
        return report
    scope = _plan_scope(plan) if plan is not None else None
    with transaction.atomic():
        slugs = _product_slugs(scope)
        catalogue = _read_catalogue(languages, scope, slugs)
        for target in _FIELD_TARGETS:
            if scope is not None and target.model not in scope:
                continue
            report.models.append(_apply_by_field(target, languages, catalogue, slugs, scope))
        report.models.append(_apply_steps(languages, catalogue, slugs, scope))
    for model_report in report.models:
        logger.info(
            "translations %s %s: %d objects, %d translated rows, %d created, %d updated, "
            "%d unchanged, %d entries too long, %d objects without a product slug",
            ",".join(languages), model_report.model, model_report.objects,
            model_report.translated, model_report.created, model_report.updated,
            model_report.translated - model_report.changed, model_report.too_long,
            model_report.without_context,
        )
    logger.info(
        "translations %s: %d rows created, %d updated",
        ",".join(languages), report.created, report.updated,
    )
    return report


def _plan_scope(plan: Plan) -> dict[type[TranslatableModel], Q]:
    plan = Plan.objects.select_related("plan_template__product").get(pk=plan.pk)
    product = plan.plan_template.product
    return {
        ProductCategory: Q(master_id=product.category_id),
        Product: Q(master_id=product.pk),
        Version: Q(master_id=plan.version_id),
        PlanTemplate: Q(master_id=plan.plan_template_id),
        Plan: Q(master_id=plan.pk),
        Step: Q(master__plan_id=plan.pk),
        ProductSlug: Q(parent_id=product.pk),
    }


def _product_slugs(scope) -> dict[int, str]:
    """Each product's active slug (the newest active one, as Product.slug)."""
    rows = ProductSlug.objects.filter(is_active=True)
    if scope is not None:
        rows = rows.filter(scope[ProductSlug])
    rows = rows.order_by("parent_id", "-id").distinct("parent_id")
    return dict(rows.values_list("parent_id", "slug"))


def _read_catalogue(languages: list[str], scope, slugs: dict[int, str]) -> Catalogue:
    entries = Translation.objects.filter(lang__in=languages).exclude(text="")
    if scope is not None:
        # A plan's objects only use its product's contexts and category contexts.
        wanted = Q(context__endswith=":product_category")
        for slug in slugs.values():
            wanted |= Q(context__startswith=f"{slug}:")
        entries = entries.filter(wanted)
    catalogue: Catalogue = defaultdict(dict)
    for lang, context, slug, text in entries.values_list("lang", "context", "slug", "text"):
        catalogue[(lang, context)][slug] = text
    return catalogue


def _default_rows(model: type[TranslatableModel], names: Iterable[str], scope):
    rows = model._parler_meta.root_model.objects.filter(language_code=settings.LANGUAGE_CODE)
    if scope is not None:
        rows = rows.filter(scope[model])
    return rows.values("master_id", *names)


def _apply_by_field(target: _FieldTarget, languages, catalogue: Catalogue, slugs, scope):
    fields = contexts.translated_fields(target.model)
    report = ModelReport(model=target.model.__name__)
    out: list[tuple[int, str, list[str]]] = []
    for row in _default_rows(target.model, [*fields, *target.lookups], scope):
        report.objects += 1
        context = target.context(row, slugs)
        if context is None:
            report.without_context += 1
            continue
        for lang in languages:
            entries = catalogue.get((lang, context))
            if entries:
                translated = {name: entries.get(name) for name in fields}
                _add_row(out, report, row, fields, lang, translated)
    _upsert(target.model, fields, out, report)
    return report


def _apply_steps(languages, catalogue: Catalogue, slugs, scope) -> ModelReport:
    fields = contexts.translated_fields(Step)
    product_key = "master__plan__plan_template__product_id"
    report = ModelReport(model=Step.__name__)
    out: list[tuple[int, str, list[str]]] = []
    for row in _default_rows(Step, [*fields, product_key], scope):
        report.objects += 1
        slug = slugs.get(row[product_key])
        if slug is None:
            report.without_context += 1
            continue
        context = contexts.steps_context(slug)
        for lang in languages:
            entries = catalogue.get((lang, context))
            if entries:
                translated = {
                    name: contexts.translate_text(row[name], entries) for name in fields
                }
                _add_row(out, report, row, fields, lang, translated)
    _upsert(Step, fields, out, report)
    return report


def _add_row(out, report: ModelReport, row: dict, fields: dict[str, models.Field], lang: str,
             translated: dict[str, str | None]) -> None:
    values: list[str] = []
    any_translated = False
    for name, model_field in fields.items():
        text = translated.get(name)
        if text and model_field.max_length and len(text) > model_field.max_length:
            # One bad entry must not abort the run for everyone else: the field stays in the default
            # language and the count says so.
            report.too_long += 1
            text = None
        any_translated = any_translated or bool(text)
        values.append(text or row[name])
    if any_translated:
        report.translated += 1
        out.append((row["master_id"], lang, values))


def _upsert(model: type[TranslatableModel], fields: dict[str, models.Field],
            rows: list[tuple[int, str, list[str]]], report: ModelReport) -> None:
    """Insert or update all rows with one statement; only rows whose text differs are written.

    The rows reach the server by COPY into a temporary table: binding tens of thousands of
    values as array parameters costs about ten times as much client time.
    """
    if not rows:
        return
    meta = model._parler_meta.root_model._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = [quote(meta.get_field(name).column) for name in fields]
    master = quote(meta.get_field("master").column)
    language = quote(meta.get_field("language_code").column)
    stage = quote("translations_stage")
    all_columns = ", ".join([master, language, *columns])
    assignments = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns)
    current = ", ".join(f"t.{column}" for column in columns)
    incoming = ", ".join(f"EXCLUDED.{column}" for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} ({master} bigint, {language} text, "
            + ", ".join(f"{column} text" for column in columns)
            + ") ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY {stage} ({all_columns}) FROM STDIN") as copy:
            for master_id, lang, values in rows:
                copy.write_row((master_id, lang, *values))
        cursor.execute(
            f"INSERT INTO {table} AS t ({all_columns}) SELECT {all_columns} FROM {stage} "
            f"ON CONFLICT ({language}, {master}) DO UPDATE SET {assignments} "
            f"WHERE ROW({current}) IS DISTINCT FROM ROW({incoming}) "
            "RETURNING (xmax = 0)"
        )
        inserted = [flag for (flag,) in cursor.fetchall()]
        # Dropped now, not only at commit: a caller's transaction may apply again.
        cursor.execute(f"DROP TABLE {stage}")
    report.created += sum(1 for flag in inserted if flag)
    report.updated += sum(1 for flag in inserted if not flag)
