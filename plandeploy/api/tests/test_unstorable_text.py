"""Text PostgreSQL cannot store (NUL, lone surrogates) is a 400 everywhere, writing nothing.

One middleware (api.text_middleware) refuses it wherever a request can carry it: the path,
the query string, a cookie, a header, a form field, a JSON body. Each kind has a case here
that gave a 500 or reached the database before; the pages' cases are in
web/tests/test_unstorable_text.py.
"""

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
    assert response.json() == {"detail": DETAIL, "in": "body",
                               "path": ["acme:steps", "Configure", "message"]}
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
        (f'{{"plan": "{plan.hashid}", "steps": ["{bad}"]}}', ["steps", 0]),
        (f'{{"plan": "{plan.hashid}", "steps": ["{step.hashid}"], '
         f'"results": {{"{step.hashid}": [{{"status": "hide{bad}"}}]}}}}',
         ["results", step.hashid, 0, "status"]),
    ]:
        response = client.post("/api/jobs/", body, content_type="application/json")
        assert response.status_code == 400, (body, response.content)
        assert response.json() == {"detail": DETAIL, "in": "body", "path": path}
    assert not Job.objects.exists()


@pytest.mark.parametrize("bad", [LONE_SURROGATE, NUL])
def test_admin_api_create_with_unstorable_text_is_400(bad):
    client = staff_client()
    response = client.post("/admin/rest/productcategory", f'{{"title": "Tools{bad}"}}',
                           content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json() == {"detail": DETAIL, "in": "body", "path": ["title"]}
    assert not ProductCategory.objects.exists()


def test_anonymous_scratch_org_request_with_unstorable_email_is_400():
    plan = factories.plan(supported_orgs="Scratch")
    response = APIClient().post(f"/api/plans/{plan.hashid}/scratch_org/",
                                f'{{"email": "a{LONE_SURROGATE}@example.com"}}',
                                content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"] == DETAIL


def refused(response, where: str, path: list) -> None:
    assert response.status_code == 400, response.content
    assert response.json() == {"detail": DETAIL, "in": where, "path": path}


@pytest.mark.parametrize("url", ["/api/plans/%00/", "/admin/rest/plans/%00",
                                 "/api/plans/%00/preflight/"])
def test_nul_in_an_api_path_is_400(url):
    refused(staff_client().get(url), "path", [])


@pytest.mark.parametrize(("url", "name"), [
    ("/api/plans/?q=%00", "q"), ("/api/products/get_one/?slug=%00", "slug"),
    ("/admin/rest/productslug?slug=%00", "slug"), ("/api/plans/?x%00=1", "x\x00"),
])
def test_nul_in_an_api_query_string_is_400(url, name):
    refused(staff_client().get(url), "query", [name])


def test_nul_in_a_cookie_is_400_before_the_session_is_looked_up():
    client = APIClient()
    client.cookies["sessionid"] = "abc\x00def"
    refused(client.get("/api/user/"), "cookie", ["sessionid"])


def test_nul_in_a_header_is_400():
    client = APIClient()
    refused(client.get("/api/user/", HTTP_AUTHORIZATION="token abc\x00"), "header",
            ["Authorization"])


def test_json_with_nul_or_a_lone_surrogate_is_400_before_authentication():
    for bad in (NUL, LONE_SURROGATE):
        response = APIClient().post("/api/jobs/", f'{{"plan": "x{bad}"}}',
                                    content_type="application/json")
        refused(response, "body", ["plan"])
    # An escaped backslash before "u0000" is ordinary text: it reaches the view.
    response = APIClient().post("/api/jobs/", '{"plan": "x\\\\u0000"}',
                                content_type="application/json")
    assert response.status_code == 401
