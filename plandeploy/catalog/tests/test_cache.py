"""The catalogue read cache: every way the catalogue changes shows on the very next request,
in this process and in another one, and every catalogue table moves the version."""

from __future__ import annotations

import httpx
import pytest
from django.apps import apps
from django.db import connection, transaction
from rest_framework.test import APIClient

from plandeploy.catalog import cache
from plandeploy.catalog.models import (
    AllowedList,
    CatalogueVersion,
    ClickThroughAgreement,
    Plan,
    SupportedOrgs,
)
from plandeploy.catalog.tests import factories
from plandeploy.maintenance.services import run_calculate_average_plan_runtimes
from plandeploy.translations.apply import apply_catalogue
from plandeploy.translations.models import Translation

NOT_CACHED = {ClickThroughAgreement, CatalogueVersion}


def plan_title(client, plan, **headers) -> str:
    response = client.get(f"/api/plans/{plan.hashid}/", headers=headers)
    assert response.status_code == 200
    return response.json()["title"]


@pytest.mark.django_db
def test_every_catalogue_table_changes_the_version():
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgrelid::regclass::text FROM pg_trigger "
                       "WHERE tgname LIKE '%%_bumps_version'")
        triggered = {row[0] for row in cursor.fetchall()}
    tables = {model._meta.db_table for model in apps.get_app_config("catalog").get_models()
              if model not in NOT_CACHED}
    assert tables - triggered == set()


@pytest.mark.django_db
def test_the_version_changes_with_each_catalogue_write_and_not_with_other_writes():
    plan = factories.plan()
    with transaction.atomic():
        before = cache.current_version()
        factories.user()
        ClickThroughAgreement.objects.create(text="accepted")
        assert cache.current_version() == before
        with connection.cursor() as cursor:  # plain SQL too
            cursor.execute("UPDATE catalog_plan SET order_key = order_key WHERE id = %s",
                           [plan.pk])
        assert cache.current_version() != before


@pytest.mark.django_db
def test_a_saved_change_shows_on_the_next_request(client):
    plan = factories.plan(title="Before")
    assert plan_title(client, plan) == "Before"
    assert plan_title(client, plan) == "Before"  # from the cache
    plan.title = "After"
    plan.save()  # what the admin site does
    assert plan_title(client, plan) == "After"


@pytest.mark.django_db
def test_a_saved_change_shows_on_the_next_token_request():
    """An API token's query reads the version too (one statement): the same rule holds."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token {factories.api_token(factories.user())}")
    plan = factories.plan(title="Before")
    assert plan_title(client, plan) == "Before"
    assert plan_title(client, plan) == "Before"  # from the cache
    plan.title = "After"
    plan.save()
    assert plan_title(client, plan) == "After"


@pytest.mark.django_db
def test_publishing_through_the_admin_api_shows_on_the_next_request(client):
    version = factories.version(is_listed=False)
    factories.plan(version)
    assert client.get(f"/api/versions/{version.hashid}/").status_code == 404
    products = client.get("/api/products/").json()["results"]
    assert version.product.hashid not in {product["id"] for product in products}
    admin = APIClient()
    key = factories.api_token(factories.user(superuser=True))
    admin.credentials(HTTP_AUTHORIZATION=f"token {key}")
    response = admin.patch(f"/admin/rest/versions/{version.hashid}", {"is_listed": True},
                           format="json")
    assert response.status_code == 200
    products = client.get("/api/products/").json()["results"]
    assert version.product.hashid in {product["id"] for product in products}


@pytest.mark.django_db
def test_average_runtimes_show_on_the_next_request(client):
    from django.conf import settings
    from django.utils import timezone

    from plandeploy.jobs.tests.maintenance_rows import completed

    plan = factories.plan()
    assert client.get(f"/api/plans/{plan.hashid}/").json()["average_duration"] is None
    completed(plan, [60] * settings.MINIMUM_JOBS_FOR_AVERAGE, timezone.now())
    run_calculate_average_plan_runtimes()
    assert client.get(f"/api/plans/{plan.hashid}/").json()["average_duration"] == 60


@pytest.mark.django_db
def test_applied_translations_show_on_the_next_request(client):
    plan = factories.plan(title="Install")
    slug = plan.version.product.slug
    assert plan_title(client, plan, **{"Accept-Language": "es"}) == "Install"
    Translation.objects.create(lang="es", context=f"{slug}:plan:{plan.plan_template.name}",
                               slug="title", text="Instalar")
    apply_catalogue(["es"])
    assert Plan.objects.get(pk=plan.pk).safe_translation_getter("title", language_code="es") \
        == "Instalar", "the translation context of a plan title changed: fix this test"
    assert plan_title(client, plan, **{"Accept-Language": "es"}) == "Instalar"
    assert plan_title(client, plan) == "Install"


@pytest.mark.django_db
def test_an_allowed_list_is_a_visibility_class_of_its_own(client):
    allowed = factories.allowed_list(org_type=["Developer"])
    plan = factories.plan(supported_orgs=SupportedOrgs.PERSISTENT, visible_to=allowed)
    insider = APIClient()
    insider.credentials(HTTP_AUTHORIZATION=f"token {factories.api_token(factories.user())}")
    outsider = APIClient()
    outsider_key = factories.api_token(factories.user(full_org_type="Production"))
    outsider.credentials(HTTP_AUTHORIZATION=f"token {outsider_key}")
    for _ in range(2):
        assert client.get(f"/api/plans/{plan.hashid}/").json()["steps"] is None
        assert insider.get(f"/api/plans/{plan.hashid}/").json()["steps"] is not None
        assert outsider.get(f"/api/plans/{plan.hashid}/").json()["steps"] is None
    AllowedList.objects.filter(pk=allowed.pk).update(org_type=["Developer", "Production"])
    assert outsider.get(f"/api/plans/{plan.hashid}/").json()["steps"] is not None


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_here_shows_on_the_next_request_to_another_process():
    from plandeploy.testing.processes import web_process

    plan = factories.plan(title="Before")
    with web_process() as base, httpx.Client(base_url=base) as http:
        for _ in range(3):  # every request of the server's processes and threads
            assert http.get(f"/api/plans/{plan.hashid}/").json()["title"] == "Before"
        plan.title = "After"
        plan.save()
        for _ in range(3):
            assert http.get(f"/api/plans/{plan.hashid}/").json()["title"] == "After"


@pytest.mark.django_db
def test_a_change_shows_on_the_next_plan_page_and_job_page(client):
    from plandeploy.runs.models import Job, Status
    from plandeploy.web import lookups

    user = factories.user()
    client.force_login(user)
    plan = factories.plan(title="Before")
    job = Job.objects.create(user=user, plan=plan, org_id=user.org_id, status=Status.COMPLETE)
    pages = [lookups.plan_url(plan), lookups.plan_url(plan, "job", job=job.hashid)]
    for page in pages:
        assert "Before" in client.get(page).content.decode()
    plan.title = "After"
    plan.save()
    for page in pages:
        text = client.get(page).content.decode()
        assert "After" in text and "Before" not in text


@pytest.mark.django_db
def test_a_product_list_with_other_parameters_is_served_uncached_and_current(client):
    product = factories.plan(title="Install").version.product
    for _ in range(2):
        listed = client.get("/api/products/", {"made-up": "1"}).json()["results"]
        assert product.hashid in {row["id"] for row in listed}
    product.title = "Renamed"
    product.save()
    listed = client.get("/api/products/", {"made-up": "1"}).json()["results"]
    assert "Renamed" in {row["title"] for row in listed}
