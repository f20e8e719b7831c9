"""A product created on the admin site without a slug gets its title's, like the admin API's."""

from __future__ import annotations

import pytest
from django.test import Client

from plandeploy.catalog.models import Product
from plandeploy.catalog.tests import factories

pytestmark = pytest.mark.django_db


def _inline_management(prefix: str) -> dict[str, str]:
    return {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def test_product_added_on_the_admin_site_without_slug_gets_one():
    staff = Client()
    staff.force_login(factories.user(superuser=True, connected=False))
    category = factories.category()
    response = staff.post("/admin/catalog/product/add/?language=en", {
        "title": "Admin Site Widgets", "category": category.pk, "order_key": "0",
        "is_listed": "on", **_inline_management("productslug_set"),
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    product = Product.objects.get(translations__title="Admin Site Widgets")
    assert product.slug == "admin-site-widgets"
