"""The admin REST API: superuser-only token auth, url references, filters, atomic plan creation."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from plandeploy.catalog.models import Plan, Product, Step, Version
from plandeploy.catalog.signals import plan_published
from plandeploy.catalog.tests import factories

pytestmark = pytest.mark.django_db
BASE = "http://testserver/admin/rest"


@pytest.fixture
def admin() -> APIClient:
    client = APIClient()
    key = factories.api_token(factories.user(superuser=True))
    client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    return client


def test_auth_is_required_and_superuser_only():
    client = APIClient()
    response = client.get("/admin/rest/products")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    client.credentials(HTTP_AUTHORIZATION=f"token {factories.api_token(factories.user())}")
    assert client.get("/admin/rest/products").status_code == 403
    # Staff who are not superusers may use the admin site's views they are given, not this.
    staff = factories.api_token(factories.user(staff=True))
    client.credentials(HTTP_AUTHORIZATION=f"token {staff}")
    assert client.get("/admin/rest/products").status_code == 403
    assert client.patch("/admin/rest/translations/es", {}, format="json").status_code == 403
    client.credentials(HTTP_AUTHORIZATION="token not-a-token")
    assert client.get("/admin/rest/products").status_code == 401


def test_list_shape_and_repo_url_filter(admin):
    product = factories.product(repo_url="https://github.com/acme/widgets")
    factories.product()
    body = admin.get("/admin/rest/products", {"repo_url": "https://github.com/acme/widgets"}).json()
    assert set(body) >= {"data", "links"}
    assert set(body["links"]) == {"next", "previous"}
    [item] = body["data"]
    assert item["id"] == product.hashid
    assert item["url"] == f"{BASE}/products/{product.hashid}"
    assert item["slug"] == product.slug
    assert item["category"] == f"{BASE}/productcategory/{product.category_id}"
    assert admin.get(item["url"]).json()["id"] == product.hashid
    assert admin.get("/admin/rest/products", {"repo_url": "nope"}).json()["data"] == []


def test_pagination_links(admin):
    for _ in range(3):
        factories.product()
    body = admin.get("/admin/rest/products", {"limit": 2}).json()
    assert len(body["data"]) == 2 and body["links"]["next"] and body["links"]["previous"] is None
    assert len(admin.get(body["links"]["next"]).json()["data"]) == 1


def _plan_body(version, template, steps):
    return {
        "title": "Full install", "tier": "primary", "is_listed": True,
        "plan_template": f"{BASE}/plantemplates/{template.hashid}",
        "version": f"{BASE}/versions/{version.hashid}",
        "preflight_message_additional": "", "post_install_message_additional": "",
        "supported_orgs": "Persistent", "visible_to": None, "steps": steps,
    }


def _step(num, **extra):
    step = {"name": f"Step {num}", "kind": "metadata", "is_required": True,
            "is_recommended": True, "path": f"step{num}", "step_num": str(num),
            "task_class": "cumulusci.tasks.util.Sleep",
            "task_config": {"options": {"seconds": 0}, "checks": []}, "source": None}
    step.update(extra)
    return step


def test_plan_with_steps_is_created_atomically_and_published_once(
    admin, django_capture_on_commit_callbacks
):
    version = factories.version()
    plan_template = factories.plan(version, steps=0).plan_template
    sent = []

    def receiver(sender, plan, **kwargs):
        sent.append((plan.pk, plan.steps.count()))

    plan_published.connect(receiver)
    try:
        bad = _plan_body(version, plan_template, [_step(1), _step(2, task_config=[1])])
        response = admin.post("/admin/rest/plans", bad, format="json")
        assert response.status_code == 400
        assert "steps" in response.json()
        duplicate = _plan_body(version, plan_template, [_step(1), _step(1)])
        assert admin.post("/admin/rest/plans", duplicate, format="json").status_code == 400
        assert Plan.objects.filter(translations__title="Full install").count() == 0 and sent == []

        good = _plan_body(version, plan_template, [_step(1), _step(2), _step(3)])
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = admin.post("/admin/rest/plans", good, format="json")
            assert sent == []  # not before the plan and its steps are committed
        assert response.status_code == 201, response.json()
        assert len(callbacks) == 1
        plan = Plan.objects.get(pk=Plan.pk_from_hashid(response.json()["id"]))
        assert sent == [(plan.pk, 3)]
        assert [s.step_num for s in plan.steps.all()] == ["1", "2", "3"]
        assert plan.steps.first().task_config == {"options": {"seconds": 0}, "checks": []}
    finally:
        plan_published.disconnect(receiver)


def test_references_by_url_are_validated(admin):
    product = factories.product()
    body = {"product": f"{BASE}/products/{product.hashid}", "label": "9.9", "commit_ish": "v9"}
    bad_product = dict(body, product=f"{BASE}/products/zzzzzzz")
    response = admin.post("/admin/rest/versions", bad_product, format="json")
    assert response.status_code == 400
    assert response.json() == {"product": ["Invalid hyperlink - Object does not exist."]}
    wrong_kind = dict(body, product=f"{BASE}/plans/{product.hashid}")
    assert admin.post("/admin/rest/versions", wrong_kind, format="json").json() == {
        "product": ["Invalid hyperlink - Incorrect URL match."]
    }
    assert admin.post("/admin/rest/versions", dict(body, product=5),
                      format="json").status_code == 400
    assert admin.post("/admin/rest/versions", dict(body, typo=1), format="json").json() == {
        "typo": ["Unknown field."]
    }
    assert not Version.objects.filter(label="9.9").exists()
    response = admin.post("/admin/rest/versions", body, format="json")
    assert response.status_code == 201
    assert admin.post("/admin/rest/versions", body, format="json").status_code == 400


def test_patch_version_lists_it(admin):
    version = factories.version(is_listed=False)
    response = admin.patch(f"/admin/rest/versions/{version.hashid}", {"is_listed": True},
                           format="json")
    assert response.status_code == 200 and response.json()["is_listed"] is True
    assert Version.objects.get(pk=version.pk).is_listed
    assert admin.patch("/admin/rest/versions/nope", {}, format="json").status_code == 404


def test_malformed_json_and_protected_delete(admin):
    response = admin.post("/admin/rest/products", "{", content_type="application/json")
    assert response.status_code == 400
    version = factories.version()
    response = admin.delete(f"/admin/rest/products/{version.product.hashid}")
    assert response.status_code == 409
    assert Product.objects.filter(pk=version.product_id).exists()


def test_steps_cannot_be_changed_on_update(admin):
    plan = factories.plan(steps=1)
    response = admin.patch(f"/admin/rest/plans/{plan.hashid}", {"steps": [_step(5)]},
                           format="json")
    assert response.status_code == 400
    assert Step.objects.filter(plan=plan).count() == 1


def test_admin_api_is_throttled(admin, settings):
    # Counted in the shared database table, so every web process sees the same count.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "admin_api": "3/min"}
    codes = [admin.get("/admin/rest/products").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_filters_and_product_slug_and_category(admin):
    category = admin.post("/admin/rest/productcategory", {"title": "Tools"}, format="json").json()
    product = admin.post("/admin/rest/products", {
        "title": "Widget", "category": category["url"], "repo_url": "https://x/y", "slug": "widget",
    }, format="json")
    assert product.status_code == 201, product.json()
    product = product.json()
    assert product["slug"] == "widget"
    template = admin.post("/admin/rest/plantemplates", {
        "name": "install", "product": product["url"]}, format="json").json()
    slug = admin.post("/admin/rest/planslug", {"slug": "install", "parent": template["url"]},
                      format="json")
    assert slug.status_code == 201
    again = admin.post("/admin/rest/planslug", {"slug": "install", "parent": template["url"]},
                       format="json")
    assert again.status_code == 400
    found = admin.get("/admin/rest/plantemplates", {"product": product["id"], "name": "install"})
    assert [item["id"] for item in found.json()["data"]] == [template["id"]]
    assert admin.get("/admin/rest/plantemplates", {"product": "zz"}).json()["data"] == []
