"""The migration that gives existing slug-less products and plans a slug from their title."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from plandeploy.catalog.models import Plan, PlanTemplate, Product
from plandeploy.catalog.tests import factories

pytestmark = pytest.mark.django_db

backfill = importlib.import_module("plandeploy.catalog.migrations.0003_derive_missing_slugs")


def test_slugless_products_and_plans_get_slugs_and_existing_ones_are_kept():
    kept = factories.product(title="Backfill Widgets", slug="backfill-widgets")
    bare = Product.objects.create(title="Backfill Widgets", category=factories.category())
    version = factories.version(bare)
    named = factories.plan(version, title="Install all", slug="install-all")
    template = PlanTemplate.objects.create(product=bare, name="second")
    Plan.objects.create(title="Install All", plan_template=template, version=version)

    backfill.derive_missing_slugs(apps, None)

    assert Product.objects.get(pk=kept.pk).slug == "backfill-widgets"
    assert Product.objects.get(pk=bare.pk).slug == "backfill-widgets-1"
    assert Plan.objects.get(pk=named.pk).slug == "install-all"
    assert Plan.objects.get(plan_template=template).slug == "install-all-1"
    # Running it again changes nothing.
    backfill.derive_missing_slugs(apps, None)
    assert Product.objects.get(pk=bare.pk).productslug_set.count() == 1
