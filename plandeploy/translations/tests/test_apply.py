"""apply_catalogue and the update_all_translations job on the real database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plandeploy.catalog.models import (
    Plan,
    PlanTemplate,
    Product,
    ProductCategory,
    SiteProfile,
    Step,
    Version,
)
from plandeploy.catalog.signals import plan_published
from plandeploy.jobs.translations import update_all_translations
from plandeploy.translations.apply import apply_catalogue
from plandeploy.translations.tests.builders import (
    add_entries,
    default,
    make_plan,
    make_product,
    read,
)

pytestmark = pytest.mark.django_db


def test_by_field_strategy_translates_each_model_and_keeps_default_text_for_missing_fields():
    product = make_product(short_description="Widgets for all")
    plan = make_plan(product, label="2.0", template_name="Full install", title="Full")
    site = default(SiteProfile.objects).create(name="Acme Installer", company_name="Acme")
    add_entries("es", {
        "acme:product": {"title": "Widgets de Acme"},
        "acme:version:2.0": {"description": "Versión 2.0"},
        "acme:plan:Full install": {"title": "Completo", "preflight_message": "Revise su org"},
        "Tools:product_category": {"title": "Herramientas"},
        "siteprofile": {"welcome_text": "Bienvenido"},
    })

    report = apply_catalogue(["es"])

    assert read(product, "es", "title") == "Widgets de Acme"
    assert read(product, "es", "short_description") == "Widgets for all"  # no entry: English
    assert read(plan.version, "es", "description") == "Versión 2.0"
    assert read(plan, "es", "title") == "Completo"
    assert read(plan.plan_template, "es", "preflight_message") == "Revise su org"
    assert read(plan.plan_template, "es", "post_install_message") == "All done"
    assert read(product.category, "es", "title") == "Herramientas"
    assert read(site, "es", "welcome_text") == "Bienvenido"
    assert read(site, "es", "name") == "Acme Installer"
    # Another language without entries falls back to the default row as a whole.
    assert read(product, "fr", "title") == "Acme Widgets"
    assert not Product.objects.get(pk=product.pk).has_translation("fr")
    assert report.created == 6 and report.updated == 0


def test_by_text_strategy_translates_steps_and_fills_the_install_pattern():
    product = make_product()
    plan = make_plan(product, steps=[
        ("Install Acme Widgets 1.2", "Deploys the package"),
        ("Configure layouts", ""),
        ("Install Acme Add-on 3", "Not in the catalogue"),
        ("Untranslated step", "Nothing here"),
    ])
    other = make_plan(make_product(slug="other", title="Other"), steps=[("Configure layouts", "")])
    add_entries("es", {"acme:steps": {
        "Install {product} {version}": "Instalar {product} {version}",
        "Deploys the package": "Despliega el paquete",
        "Configure layouts": "Configurar diseños",
    }})
    add_entries("ja", {"acme:steps": {
        "Install {product} {version}": "{product} {version} をインストール",
    }})

    apply_catalogue(["es", "ja"])

    first, second, third, fourth = plan.steps.order_by("step_num_key")
    assert read(first, "es", "name") == "Instalar Acme Widgets 1.2"
    assert read(first, "es", "description") == "Despliega el paquete"
    assert read(first, "ja", "name") == "Acme Widgets 1.2 をインストール"
    assert read(second, "es", "name") == "Configurar diseños"
    assert read(third, "es", "name") == "Instalar Acme Add-on 3"
    assert read(third, "es", "description") == "Not in the catalogue"
    assert read(fourth, "es", "name") == "Untranslated step"
    assert not fourth.has_translation("es")
    # Another product's steps use their own context.
    assert read(other.steps.get(), "es", "name") == "Configure layouts"


def test_an_exact_entry_wins_over_the_install_pattern():
    plan = make_plan(make_product(), steps=[("Install Acme Widgets 1.2", "")])
    add_entries("es", {"acme:steps": {
        "Install {product} {version}": "Instalar {product} {version}",
        "Install Acme Widgets 1.2": "Instalación especial",
    }})
    apply_catalogue(["es"])
    assert read(plan.steps.get(), "es", "name") == "Instalación especial"


def test_a_second_run_changes_nothing_and_a_changed_entry_updates_only_its_row():
    product = make_product()
    plan = make_plan(product, steps=[("Configure layouts", ""), ("Load data", "")])
    add_entries("es", {
        "acme:product": {"title": "Widgets de Acme"},
        "acme:steps": {"Configure layouts": "Configurar diseños", "Load data": "Cargar datos"},
    })
    first = apply_catalogue(["es"])
    assert first.changed == 3

    second = apply_catalogue(["es"])
    assert second.changed == 0
    assert second.by_model("Step").translated == 2

    from plandeploy.translations.models import Translation

    Translation.objects.filter(slug="Load data").update(text="Cargar los datos")
    third = apply_catalogue(["es"])
    assert (third.created, third.updated) == (0, 1)
    assert read(plan.steps.get(step_num="2"), "es", "name") == "Cargar los datos"


def test_a_default_language_edit_reaches_untranslated_fields_on_the_next_run():
    product = make_product(short_description="Old text")
    add_entries("es", {"acme:product": {"title": "Widgets de Acme"}})
    apply_catalogue(["es"])
    product = default(Product.objects).get(pk=product.pk)
    product.short_description = "New text"
    product.save()

    report = apply_catalogue(["es"])

    assert report.updated == 1
    assert read(product, "es", "short_description") == "New text"
    assert read(product, "es", "title") == "Widgets de Acme"


def test_too_long_entry_is_skipped_and_counted_without_aborting_the_run():
    product = make_product()
    plan = make_plan(product, title="Full")
    add_entries("es", {
        "acme:plan:Full install": {"title": "x" * 129, "post_install_message": "Listo"},
        "acme:product": {"title": "Widgets de Acme", "no_such_field": "ignored"},
    })

    report = apply_catalogue(["es"])

    assert report.by_model("Plan").too_long == 1
    assert read(plan, "es", "title") == "Full"
    assert read(plan.plan_template, "es", "post_install_message") == "Listo"
    assert read(product, "es", "title") == "Widgets de Acme"


def test_objects_of_a_product_without_an_active_slug_are_counted_and_left_alone():
    product = make_product()
    make_plan(product, steps=[("Configure layouts", "")])
    product.productslug_set.update(is_active=False)
    add_entries("es", {"acme:product": {"title": "Widgets de Acme"}})

    report = apply_catalogue(["es"])

    assert report.changed == 0
    assert report.by_model("Product").without_context == 1
    assert report.by_model("Step").without_context == 1


def test_the_newest_active_slug_names_the_context():
    product = make_product(slug="old-acme")
    product.productslug_set.create(slug="acme")
    add_entries("es", {"old-acme:product": {"title": "Viejo"}, "acme:product": {"title": "Nuevo"}})
    apply_catalogue(["es"])
    assert read(product, "es", "title") == "Nuevo"


def test_query_count_does_not_grow_with_the_number_of_objects():
    def build(count: int, prefix: str) -> None:
        for index in range(count):
            product = make_product(slug=f"{prefix}{index}", title=f"P{index}")
            make_plan(product, steps=[("Configure layouts", ""), ("Load data", "Data")])
            add_entries("es", {
                f"{prefix}{index}:product": {"title": "T"},
                f"{prefix}{index}:plan:Full install": {"title": "T"},
                f"{prefix}{index}:steps": {"Configure layouts": "C", "Data": "D"},
            })

    build(1, "small")
    with CaptureQueriesContext(connection) as small:
        apply_catalogue(["es", "fr"])
    build(6, "large")
    with CaptureQueriesContext(connection) as large:
        report = apply_catalogue(["es", "fr"])

    assert report.by_model("Step").created == 12
    assert len(large.captured_queries) == len(small.captured_queries)


def test_plan_published_applies_the_catalogue_to_that_plan_only():
    product = make_product()
    published = make_plan(product, label="2.0", steps=[("Configure layouts", "")])
    untouched = make_plan(make_product(slug="other", title="Other"), steps=[("Configure", "")])
    add_entries("fr", {
        "acme:steps": {"Configure layouts": "Configurer les mises en page"},
        "acme:version:2.0": {"description": "Version 2.0"},
        "acme:product": {"title": "Widgets Acme"},
        "other:product": {"title": "Autre"},
        "other:steps": {"Configure": "Configurer"},
    })

    plan_published.send(sender=Plan, plan=published)

    assert read(published.steps.get(), "fr", "name") == "Configurer les mises en page"
    assert read(published.version, "fr", "description") == "Version 2.0"
    assert read(product, "fr", "title") == "Widgets Acme"
    assert not untouched.plan_template.product.has_translation("fr")
    assert not untouched.steps.get().has_translation("fr")


def test_job_for_a_language_and_for_every_language():
    product = make_product()
    add_entries("es", {"acme:product": {"title": "Widgets de Acme"}})
    add_entries("de", {"acme:product": {"title": "Acme-Widgets"}})

    assert update_all_translations(lang="es") == {"created": 1, "updated": 0}
    assert not Product.objects.get(pk=product.pk).has_translation("de")
    assert update_all_translations() == {"created": 1, "updated": 0}
    assert read(product, "de", "title") == "Acme-Widgets"


@pytest.mark.parametrize("lang", ["en", "xx"])
def test_job_ignores_the_default_and_unsupported_languages(lang):
    product = make_product()
    add_entries(lang, {"acme:product": {"title": "Changed"}})
    assert update_all_translations(lang=lang) == {"created": 0, "updated": 0}
    assert read(product, "en", "title") == "Acme Widgets"


def test_every_translatable_model_is_covered():
    models = {m.model for m in apply_catalogue(["es"]).models}
    expected = {ProductCategory, Product, Version, PlanTemplate, Plan, Step, SiteProfile}
    assert models == {model.__name__ for model in expected}


def test_a_plan_published_through_the_admin_api_is_translated_on_commit(
    django_capture_on_commit_callbacks
):
    from rest_framework.test import APIClient

    from plandeploy.accounts.models import User
    from plandeploy.accounts.tokens import issue_token

    existing = make_plan(make_product(), label="2.0")
    add_entries("es", {
        "acme:plan:Full install": {"title": "Instalación completa"},
        "acme:steps": {"Install {product} {version}": "Instalar {product} {version}"},
    })
    client = APIClient()
    key = issue_token(User.objects.create_user("admin", is_staff=True, is_superuser=True))
    client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    base = "http://testserver/admin/rest"
    body = {
        "title": "Full install", "tier": "primary", "is_listed": True,
        "plan_template": f"{base}/plantemplates/{existing.plan_template.hashid}",
        "version": f"{base}/versions/{existing.version.hashid}",
        "supported_orgs": "Persistent", "visible_to": None,
        "steps": [{"name": "Install Acme Widgets 2.0", "step_num": "1", "kind": "metadata",
                   "path": "install", "task_class": "cumulusci.tasks.util.Sleep",
                   "task_config": {"options": {"seconds": 0}}}],
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{base}/plans", body, format="json")

    assert response.status_code == 201, response.content
    plan = Plan.objects.get(pk=Plan.pk_from_hashid(response.json()["id"]))
    assert read(plan, "es", "title") == "Instalación completa"
    assert read(plan.steps.get(), "es", "name") == "Instalar Acme Widgets 2.0"
