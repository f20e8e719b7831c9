"""Bad input gets a clear 4xx JSON error and writes nothing."""

from __future__ import annotations

import pytest
from django.test import override_settings

from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job, ScratchOrg

pytestmark = pytest.mark.django_db


def test_malformed_json(client):
    client.force_authenticate(factories.user())
    response = client.post("/api/jobs/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert not Job.objects.exists()


def test_wrong_content_type_is_415(client):
    client.force_authenticate(factories.user())
    response = client.post("/api/jobs/", "plan=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "detail" in response.json()


def test_body_that_is_not_an_object(client):
    client.force_authenticate(factories.user())
    response = client.post("/api/jobs/", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Invalid data. Expected a dictionary, "
                                                    "but got list."]}


def test_oversized_body_is_413_and_writes_nothing(client):
    plan = factories.plan(supported_orgs="Scratch")
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        body = {"email": "a@example.com", "padding": "x" * 5000}
        response = client.post(f"/api/plans/{plan.hashid}/scratch_org/", body, format="json")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is too large."}
    assert not ScratchOrg.objects.exists()


def test_foreign_and_unknown_ids(client):
    user = factories.user()
    client.force_authenticate(user)
    plan = factories.plan()
    response = client.post("/api/jobs/", {"plan": plan.hashid, "steps": ["AAAAAAAAAAAA"]},
                           format="json")
    assert response.status_code == 400
    assert response.json() == {"steps": ['Invalid pk "AAAAAAAAAAAA" - object does not exist.']}
    assert client.get("/api/products/xyz/").status_code == 404
    assert client.get("/api/versions/xyz/").status_code == 404
    assert not Job.objects.exists()


def test_nul_bytes_are_a_400_not_a_500(client):
    response = client.get("/api/versions/get_one/", {"product": "x", "label": "a\x00b"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Text must not contain NUL characters or unpaired surrogates.",
        "in": "query", "path": ["label"]}
    user = factories.user()
    client.force_authenticate(user)
    plan = factories.plan(steps=1)
    step = plan.steps.get()
    response = client.post("/api/jobs/", {"plan": plan.hashid, "steps": [step.hashid],
                                          "results": {step.hashid: [{"status": "hide",
                                                                     "x": "\x00"}]}},
                           format="json")
    assert response.status_code == 400
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "path", ["/api/no-such-endpoint/", "/api/plans/x/y/z/", "/admin/rest/nope"]
)
def test_unknown_api_url_is_a_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_unknown_site_url_keeps_the_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
