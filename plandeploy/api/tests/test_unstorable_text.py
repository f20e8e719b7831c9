"""Text PostgreSQL cannot store (NUL, lone surrogates) is a 400 on every API, writing nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from plandeploy.catalog.models import ProductCategory
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job
from plandeploy.tests.queue_rows import deferred
from plandeploy.translations.models import Translation

pytestmark = pytest.mark.django_db

DETAIL = "Text must not contain NUL characters or unpaired surrogates."
# Written as JSON escapes, as a client would send them: Python could not even encode them.
LONE_SURROGATE = "\\ud800"
NUL = "\\u0000"


def staff_client() -> APIClient:
    client = APIClient()
    key = factories.api_token(factories.user(superuser=True))
    client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    return client


@pytest.mark.parametrize("bad", [LONE_SURROGATE, NUL, "\\udfff", "x\\ud83d"])
def test_translations_patch_with_unstorable_text_is_400_and_changes_nothing(bad):
    client = staff_client()
    Translation.objects.create(lang="es", context="acme:product", slug="title", text="Antes")
    body = ('{"acme:product": {"title": {"message": "Despues"}}, '
            f'"acme:steps": {{"Configure": {{"message": "{bad}"}}}}}}')
    response = client.patch("/admin/rest/translations/es", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json() == {"detail": DETAIL, "path": ["acme:steps", "Configure", "message"]}
    assert list(Translation.objects.values_list("slug", "text")) == [("title", "Antes")]
    assert deferred("update_all_translations") == []


def test_a_surrogate_pair_is_ordinary_text():
    client = staff_client()
    body = '{"acme:product": {"title": {"message": "Widgets \\ud83d\\ude00"}}}'
    response = client.patch("/admin/rest/translations/es", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert Translation.objects.get(slug="title").text == "Widgets \U0001f600"


def test_unstorable_text_in_a_key_is_refused_too():
    client = staff_client()
    body = f'{{"acme:steps": {{"Con{LONE_SURROGATE}figure": {{"message": "x"}}}}}}'
    response = client.patch("/admin/rest/translations/es", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"] == DETAIL
    assert not Translation.objects.exists()


@pytest.mark.parametrize("bad", [LONE_SURROGATE, NUL])
def test_job_post_with_unstorable_text_in_any_field_is_400(bad):
    client = APIClient()
    client.force_authenticate(factories.user())
    plan = factories.plan(steps=1)
    step = plan.steps.get()
    for body, path in [
        (f'{{"plan": "{plan.hashid}{bad}", "steps": ["{step.hashid}"]}}', ["plan"]),
        (f'{{"plan": "{plan.hashid}", "steps": ["{bad}"]}}', ["steps", "0"]),
        (f'{{"plan": "{plan.hashid}", "steps": ["{step.hashid}"], '
         f'"results": {{"{step.hashid}": [{{"status": "hide{bad}"}}]}}}}',
         ["results", step.hashid, "0", "status"]),
    ]:
        response = client.post("/api/jobs/", body, content_type="application/json")
        assert response.status_code == 400, (body, response.content)
        assert response.json() == {"detail": DETAIL, "path": path}
    assert not Job.objects.exists()


@pytest.mark.parametrize("bad", [LONE_SURROGATE, NUL])
def test_admin_api_create_with_unstorable_text_is_400(bad):
    client = staff_client()
    response = client.post("/admin/rest/productcategory", f'{{"title": "Tools{bad}"}}',
                           content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json() == {"detail": DETAIL, "path": ["title"]}
    assert not ProductCategory.objects.exists()


def test_anonymous_scratch_org_request_with_unstorable_email_is_400():
    plan = factories.plan(supported_orgs="Scratch")
    response = APIClient().post(f"/api/plans/{plan.hashid}/scratch_org/",
                                f'{{"email": "a{LONE_SURROGATE}@example.com"}}',
                                content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"] == DETAIL
