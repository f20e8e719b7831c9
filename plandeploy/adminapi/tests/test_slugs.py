"""Catalogue objects created through the admin API without a slug get one from their title."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import translation
from rest_framework.test import APIClient

from plandeploy.catalog.models import Product
from plandeploy.catalog.slugs import MAX_LENGTH, free_slug
from plandeploy.catalog.tests import factories
from plandeploy.translations.apply import apply_catalogue
from plandeploy.translations.contexts import product_context
from plandeploy.translations.models import Translation

pytestmark = pytest.mark.django_db
BASE = "http://testserver/admin/rest"


@pytest.fixture
def admin() -> APIClient:
    cache.clear()  # throttle history
    client = APIClient()
    key = factories.api_token(factories.user(superuser=True))
    client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    return client


def _product(admin: APIClient, title: str, **fields) -> dict:
    category = factories.category()
    response = admin.post("/admin/rest/products", {
        "title": title, "category": f"{BASE}/productcategory/{category.pk}", **fields,
    }, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _plan(admin: APIClient, product: dict, title: str) -> dict:
    version = admin.post("/admin/rest/versions", {"product": product["url"], "label": "1.0"},
                         format="json").json()
    template = admin.post("/admin/rest/plantemplates", {"product": product["url"], "name": title},
                          format="json").json()
    response = admin.post("/admin/rest/plans", {
        "title": title, "plan_template": template["url"], "version": version["url"],
    }, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_product_without_slug_gets_its_title_slugified_with_a_suffix_on_a_clash(admin):
    first = _product(admin, "Acme Widgets: Pro Edition!")
    second = _product(admin, "Acme widgets pro edition")
    third = _product(admin, "ACME Widgets Pro Edition")
    assert first["slug"] == "acme-widgets-pro-edition"
    assert second["slug"] == "acme-widgets-pro-edition-1"
    assert third["slug"] == "acme-widgets-pro-edition-2"
    assert admin.get(second["url"]).json()["slug"] == "acme-widgets-pro-edition-1"
    # An explicit slug is kept as given.
    assert _product(admin, "Other", slug="my-own")["slug"] == "my-own"


def test_a_title_with_nothing_to_slugify_still_gives_a_slug(admin):
    assert _product(admin, "日本語")["slug"] == "product"
    assert _product(admin, "!!!")["slug"] == "product-1"


def test_long_titles_keep_the_suffix_within_the_field_length():
    base = "x" * (MAX_LENGTH + 10)
    first = free_slug(base, [], "product")
    assert first == "x" * MAX_LENGTH
    second = free_slug(base, [first], "product")
    assert len(second) <= MAX_LENGTH and second.endswith("-1")


def test_plan_without_slug_gets_one_unique_within_its_product(admin):
    product = _product(admin, "Plans Product")
    first = _plan(admin, product, "Full Install")
    version_two = admin.post("/admin/rest/versions", {"product": product["url"], "label": "2.0"},
                             format="json").json()
    template = admin.post("/admin/rest/plantemplates", {"product": product["url"], "name": "b"},
                          format="json").json()
    second = admin.post("/admin/rest/plans", {
        "title": "Full install", "plan_template": template["url"], "version": version_two["url"],
    }, format="json").json()
    public_first = APIClient().get(f"/api/plans/{first['id']}/").json()
    public_second = APIClient().get(f"/api/plans/{second['id']}/").json()
    assert public_first["slug"] == "full-install"
    assert public_second["slug"] == "full-install-1"
    # Another product's plan of the same title is not a clash.
    other = _plan(admin, _product(admin, "Other Product"), "Full Install")
    assert APIClient().get(f"/api/plans/{other['id']}/").json()["slug"] == "full-install"


def test_a_version_label_that_cannot_be_a_url_part_is_refused(admin):
    product = _product(admin, "Labels")
    response = admin.post("/admin/rest/versions", {"product": product["url"], "label": "1.0/beta"},
                          format="json")
    assert response.status_code == 400
    assert "label" in response.json()


def test_translations_of_a_product_created_without_slug_use_its_derived_slug(admin):
    created = _product(admin, "Translated Thing")
    context = product_context("translated-thing")
    Translation.objects.create(lang="fr", context=context, slug="title", text="Chose traduite")
    report = apply_catalogue(["fr"])
    product = Product.objects.get(pk=Product.pk_from_hashid(created["id"]))
    assert not [m for m in report.models if m.model == "Product" and m.without_context]
    with translation.override("fr"):
        product.set_current_language("fr")
        assert product.title == "Chose traduite"
