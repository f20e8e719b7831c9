"""The translated-text rule every page, API representation and run record shares."""

from __future__ import annotations

import pytest
from django.utils import translation

from plandeploy.catalog.models import Product
from plandeploy.catalog.tests import factories
from plandeploy.catalog.texts import tr

pytestmark = pytest.mark.django_db


def _spanish_only_product() -> Product:
    product = factories.product()
    product.translations.all().delete()
    product.set_current_language("es")
    product.title = "Solo en español"
    product.save()
    return Product.objects.get(pk=product.pk)


def test_the_active_language_comes_first():
    product = factories.product(title="In English")
    product.set_current_language("es")
    product.title = "En español"
    product.save()
    with translation.override("es"):
        assert tr(Product.objects.get(pk=product.pk), "title") == "En español"
    with translation.override("en"):
        assert tr(Product.objects.get(pk=product.pk), "title") == "In English"


def test_a_text_in_another_language_only_is_still_shown():
    with translation.override("en"):
        assert tr(_spanish_only_product(), "title") == "Solo en español"


def test_no_object_and_no_text_read_as_empty():
    assert tr(None, "title") == ""
    with translation.override("en"):
        # An empty agreement is "", never None (the run's record column is not nullable).
        assert tr(factories.product(), "click_through_agreement") == ""
