"""The Django admin pages of the catalogue and accounts render for a superuser."""

from __future__ import annotations

import pytest

from plandeploy.catalog.tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", [
    "catalog/product/", "catalog/plan/", "catalog/version/", "catalog/plantemplate/",
    "catalog/productcategory/", "catalog/allowedlist/", "accounts/user/",
    "accounts/orgconnection/",
])
def test_admin_changelists_render(client, path):
    factories.plan()
    client.force_login(factories.user(superuser=True))
    assert client.get(f"/admin/{path}").status_code == 200


def test_plan_change_page_shows_steps_and_hides_tokens(client):
    plan = factories.plan(steps=2)
    user = factories.user(superuser=True)
    client.force_login(user)
    page = client.get(f"/admin/catalog/plan/{plan.pk}/change/").content.decode()
    assert "Step 1" in page and "Step 2" in page
    page = client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert user.org_connection.access_token not in page
