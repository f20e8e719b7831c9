"""The admin site and API answer only ADMIN_API_ALLOWED_SUBNETS; others get a 400."""

from __future__ import annotations

import ipaddress

import pytest
from rest_framework.test import APIClient

from plandeploy.catalog.models import ProductCategory
from plandeploy.catalog.tests import factories

pytestmark = pytest.mark.django_db


def admin_client(address: str, **headers) -> APIClient:
    client = APIClient(REMOTE_ADDR=address, **headers)
    key = factories.api_token(factories.user(superuser=True))
    client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    return client


def test_the_default_allows_only_loopback():
    assert admin_client("127.0.0.1").get("/admin/rest/products").status_code == 200
    outside = admin_client("203.0.113.5")
    response = outside.post("/admin/rest/productcategory", {"title": "x"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request."}
    assert outside.get("/admin/").status_code == 400
    assert outside.patch("/admin/rest/translations/es", {}, format="json").status_code == 400
    assert not ProductCategory.objects.exists()
    # The public API is not restricted.
    assert APIClient(REMOTE_ADDR="203.0.113.5").get("/api/products/").status_code == 200


def test_configured_subnets_and_the_proxy_rule(settings):
    settings.ADMIN_API_ALLOWED_SUBNETS = [ipaddress.ip_network("192.0.2.0/24")]
    assert admin_client("192.0.2.10").get("/admin/rest/products").status_code == 200
    assert admin_client("127.0.0.1").get("/admin/rest/products").status_code == 400
    # A forged header from an untrusted peer does not open the door ...
    forged = admin_client("198.51.100.1", HTTP_X_FORWARDED_FOR="192.0.2.10")
    assert forged.get("/admin/rest/products").status_code == 400
    # ... from a trusted proxy it names the client.
    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("198.51.100.0/24")]
    assert forged.get("/admin/rest/products").status_code == 200
