"""Products, versions, categories and plans as the public API shows them."""

from __future__ import annotations

import pytest
from django.test import override_settings

from plandeploy.catalog.models import Plan, SupportedOrgs
from plandeploy.catalog.tests import factories
from plandeploy.hashids import encode

pytestmark = pytest.mark.django_db


def test_plan_detail_has_every_field_and_average_duration(client):
    plan = factories.plan(steps=3, calculated_average_duration=42)
    response = client.get(f"/api/plans/{plan.hashid}/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id", "title", "version", "preflight_message", "tier", "slug", "old_slugs",
        "order_key", "steps", "is_allowed", "is_listed", "not_allowed_instructions",
        "average_duration", "requires_preflight", "supported_orgs", "scratch_org_duration",
    }
    assert body["id"] == plan.hashid
    assert body["average_duration"] == 42
    assert body["version"] == plan.version.hashid
    assert [step["name"] for step in body["steps"]] == ["Step 1", "Step 2", "Step 3"]
    assert body["steps"][0]["kind"] == "Metadata"
    assert body["scratch_org_duration"] == 30


def test_steps_are_ordered_numerically(client):
    plan = factories.plan(steps=0)
    for num in ["10", "2", "1.10", "1.2", "1/1"]:
        plan.steps.create(name=f"s{num}", step_num=num, task_class="x.Y")
    body = client.get(f"/api/plans/{plan.hashid}/").json()
    assert [step["name"] for step in body["steps"]] == ["s1.2", "s1.10", "s1/1", "s2", "s10"]


def test_unlisted_or_unknown_plan_is_404(client):
    plan = factories.plan(is_listed=False)
    assert client.get(f"/api/plans/{plan.hashid}/").status_code == 404
    response = client.get("/api/plans/nonsense/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert client.get(f"/api/plans/{encode(999999)}/").status_code == 404


def test_restricted_plan_masks_steps_and_preflight_message(client):
    restricted = factories.allowed_list(description="Ask *us*.")
    plan = factories.plan(visible_to=restricted)
    body = client.get(f"/api/plans/{plan.hashid}/").json()
    assert body["is_allowed"] is False
    assert body["steps"] is None
    assert body["preflight_message"] is None
    assert body["not_allowed_instructions"] == "<p>Ask <em>us</em>.</p>\n"

    superuser = factories.user(superuser=True)
    client.force_authenticate(superuser)
    body = client.get(f"/api/plans/{plan.hashid}/").json()
    assert body["is_allowed"] is True
    assert len(body["steps"]) == 3


def test_allowed_list_by_org_type_and_org_id(client):
    by_type = factories.allowed_list(org_type=["Production"])
    plan = factories.plan(visible_to=by_type)
    production = factories.user(full_org_type="Production")
    developer = factories.user()
    client.force_authenticate(production)
    assert client.get(f"/api/plans/{plan.hashid}/").json()["is_allowed"] is True
    client.force_authenticate(developer)
    assert client.get(f"/api/plans/{plan.hashid}/").json()["is_allowed"] is False
    by_type.orgs.create(org_id=developer.org_id)
    assert client.get(f"/api/plans/{plan.hashid}/").json()["is_allowed"] is True


def test_product_list_paginates_and_shows_most_recent_listed_version(client):
    product = factories.product(description="**Bold**")
    factories.version(product, label="1.0")
    newest = factories.version(product, label="2.0")
    factories.version(product, label="3.0-beta", is_listed=False)
    factories.plan(newest, tier="primary")
    factories.product()  # no version: not listed
    body = client.get("/api/products/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 1
    item = body["results"][0]
    assert item["most_recent_version"]["label"] == "2.0"
    assert item["most_recent_version"]["primary_plan"]["tier"] == "primary"
    assert item["description"] == "<p><strong>Bold</strong></p>\n"
    assert item["slug"] == product.slug


def test_product_category_filter_and_bad_value(client):
    product = factories.product()
    factories.version(product)
    other = factories.category()
    assert client.get(f"/api/products/?category={product.category_id}").json()["count"] == 1
    assert client.get(f"/api/products/?category={other.pk}").json()["count"] == 0
    response = client.get("/api/products/?category=abc")
    assert response.status_code == 400
    assert "category" in response.json()


def test_categories_carry_first_page_of_products(client):
    product = factories.product()
    factories.version(product)
    body = client.get("/api/categories/").json()
    mine = next(item for item in body if item["id"] == product.category_id)
    assert mine["first_page"]["count"] == 1
    assert mine["first_page"]["results"][0]["id"] == product.hashid
    assert client.get("/api/categories/abc/").status_code == 404


def test_get_one_endpoints(client):
    product = factories.product(slug="my-product")
    version = factories.version(product, label="1.5")
    plan = factories.plan(version, slug="full")
    assert client.get("/api/products/get_one/?slug=my-product").json()["id"] == product.hashid
    assert client.get("/api/products/get_one/?slug=nope").status_code == 404
    response = client.get(f"/api/versions/get_one/?product={product.hashid}&label=1.5")
    assert response.json()["id"] == version.hashid
    response = client.get(f"/api/plans/get_one/?version={version.hashid}&slug=full")
    assert response.json()["id"] == plan.hashid
    assert client.get(f"/api/plans/get_one/?version={version.hashid}").status_code == 404


def test_translated_text_follows_accept_language(client):
    plan = factories.plan(title="Install")
    plan.set_current_language("fr")
    plan.title = "Installer"
    plan.save()
    assert client.get(f"/api/plans/{plan.hashid}/").json()["title"] == "Install"
    french = client.get(f"/api/plans/{plan.hashid}/", HTTP_ACCEPT_LANGUAGE="fr")
    assert french.json()["title"] == "Installer"
    german = client.get(f"/api/plans/{plan.hashid}/", HTTP_ACCEPT_LANGUAGE="de")
    assert german.json()["title"] == "Install"  # falls back to the default language


def test_bootstrap_reports_settings(client):
    with override_settings(SCRATCH_ORGS_ENABLED=False, PREFLIGHT_LIFETIME_MINUTES=7):
        body = client.get("/api/ui/bootstrap/").json()
    assert body["PREFLIGHT_LIFETIME_MINUTES"] == 7
    assert body["SCRATCH_ORGS_AVAILABLE"] is False
    assert {"TOKEN_LIFETIME_MINUTES", "SITE", "YEAR", "SENTRY_DSN"} <= set(body)


def test_scratch_only_plans_are_visible_even_when_restricted_product_is_not(client):
    plan = factories.plan(supported_orgs=SupportedOrgs.SCRATCH)
    assert Plan.objects.get(pk=plan.pk).is_visible_to(None)
    assert client.get(f"/api/plans/{plan.hashid}/").json()["is_allowed"] is True
