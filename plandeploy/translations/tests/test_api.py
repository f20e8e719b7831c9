"""PATCH /admin/rest/translations/<lang>: authorization, validation and the deferred job."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from plandeploy.accounts.models import User
from plandeploy.accounts.tokens import issue_token
from plandeploy.translations.models import Translation

pytestmark = pytest.mark.django_db

URL = "/admin/rest/translations/{}"
VALID = {
    "acme:product": {"title": {"message": "Widgets de Acme", "description": "product name"}},
    "acme:steps": {"Configure layouts": {"message": "Configurar diseños"}},
}


def client_for(user: User | None = None, key: str | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        key = issue_token(user)
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    return client


@pytest.fixture
def staff() -> APIClient:
    return client_for(User.objects.create_user("admin", is_staff=True, is_superuser=True))


def patch(client: APIClient, body, lang: str = "es", **extra):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.patch(URL.format(lang), raw, content_type="application/json", **extra)


def test_staff_patch_upserts_entries_in_one_statement_and_defers_the_job(staff, deferred):
    with CaptureQueriesContext(connection) as queries:
        response = patch(staff, VALID)

    assert response.status_code == 200, response.content
    assert response.json()["entries"] == 2
    stored = {(t.context, t.slug): (t.text, t.description)
              for t in Translation.objects.filter(lang="es")}
    assert stored == {
        ("acme:product", "title"): ("Widgets de Acme", "product name"),
        ("acme:steps", "Configure layouts"): ("Configurar diseños", ""),
    }
    writes = [q["sql"] for q in queries.captured_queries
              if q["sql"].startswith('INSERT INTO "translations_translation"')]
    assert len(writes) == 1
    assert deferred() == [("update_all_translations", "short", {"lang": "es"})]


def test_a_second_patch_replaces_entries_and_reuses_the_waiting_job(staff, deferred):
    patch(staff, VALID)
    response = patch(staff, {"acme:product": {"title": {"message": "Acme"}}})

    assert response.status_code == 200
    assert response.json()["job_id"] is None
    entry = Translation.objects.get(lang="es", context="acme:product")
    assert (entry.text, entry.description) == ("Acme", "")
    assert Translation.objects.count() == 2
    assert len(deferred()) == 1


def test_an_empty_catalogue_defers_a_run(staff, deferred):
    response = patch(staff, {})
    assert response.status_code == 200
    assert len(deferred()) == 1


def test_unsupported_language_is_404_and_stores_nothing(staff, deferred):
    response = patch(staff, VALID, lang="xx")
    assert response.status_code == 404
    assert response.json() == {"detail": "Unsupported language: xx"}
    assert not Translation.objects.exists() and not deferred()


def test_the_default_language_is_refused(staff, deferred):
    response = patch(staff, VALID, lang="en")
    assert response.status_code == 400
    assert "default language" in response.json()["detail"]
    assert not Translation.objects.exists() and not deferred()


def long_title() -> dict:
    return {"acme:product": {"title": {"message": "x" * 257}}}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([], []),
        ("\"text\"", []),
        ("null", []),
        ({"acme:product": ["title"]}, ["acme:product"]),
        ({"acme:product": {"title": "Widgets"}}, ["acme:product", "title"]),
        ({"acme:product": {"title": {"description": "no message"}}},
         ["acme:product", "title", "message"]),
        ({"acme:product": {"title": {"message": 3}}}, ["acme:product", "title", "message"]),
        ({"acme:product": {"title": {"message": None}}}, ["acme:product", "title", "message"]),
        ({"acme:product": {"title": {"message": "ok", "description": ["x"]}}},
         ["acme:product", "title", "description"]),
        ({"acme:product": {"title": {"message": "ok", "text": "x"}}},
         ["acme:product", "title", "text"]),
        ({"acme:product": {"titel": {"message": "typo"}}}, ["acme:product", "titel"]),
        ({"acme:widget": {"title": {"message": "x"}}}, ["acme:widget"]),
        ({"acme:steps": {"": {"message": "x"}}}, ["acme:steps", ""]),
        (long_title(), ["acme:product", "title", "message"]),
        ({"acme:steps": {"Load": {"message": "Car\u0000gar"}}},
         ["acme:steps", "Load", "message"]),
    ],
    ids=["array", "string", "null", "context-not-object", "entry-not-object", "missing-message",
         "message-number", "message-null", "description-wrong-type", "unexpected-key",
         "unknown-field", "unknown-context", "empty-slug", "too-long", "nul-character"],
)
def test_malformed_body_is_400_with_its_path_and_stores_nothing(staff, body, path, deferred):
    # Valid entries first: none of them may be stored when a later one is bad.
    if isinstance(body, dict):
        body = {**VALID, **body}
    response = patch(staff, body)

    assert response.status_code == 400, response.content
    assert response.json()["path"] == path
    assert response.json()["detail"]
    assert not Translation.objects.exists() and not deferred()


def test_invalid_json_is_400(staff):
    response = patch(staff, "{not json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert not Translation.objects.exists()


def test_every_problem_is_listed(staff):
    response = patch(staff, {"acme:product": {"title": {"message": 1}, "titel": {"message": "x"}}})
    paths = [error["path"] for error in response.json()["errors"]]
    assert paths == [["acme:product", "title", "message"], ["acme:product", "titel"]]


def test_oversized_body_is_413_json_and_stores_nothing(staff, settings, deferred):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"acme:steps": {f"Step {n}": {"message": "x" * 20} for n in range(50)}}
    response = patch(staff, body)
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is too large."}
    assert not Translation.objects.exists() and not deferred()


def test_anonymous_is_401():
    response = patch(APIClient(), VALID)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert not Translation.objects.exists()


def test_bad_token_is_401():
    response = patch(client_for(key="0" * 40), VALID)
    assert response.status_code == 401
    assert not Translation.objects.exists()


def test_expired_token_is_401(settings):
    user = User.objects.create_user("admin", is_staff=True, is_superuser=True)
    key = issue_token(user)
    Token.objects.filter(user=user).update(
        created=timezone.now() - timedelta(days=settings.API_TOKEN_EXPIRE_AFTER_DAYS + 1)
    )
    response = patch(client_for(key=key), VALID)
    assert response.status_code == 401
    assert not Translation.objects.exists()


def test_non_staff_is_403_even_for_an_unknown_language(deferred):
    client = client_for(User.objects.create_user("someone"))
    assert patch(client, VALID).status_code == 403
    assert patch(client, VALID, lang="xx").status_code == 403
    assert not Translation.objects.exists() and not deferred()


def test_only_patch_is_allowed(staff):
    assert staff.get(URL.format("es")).status_code == 405
    assert staff.put(URL.format("es"), VALID, format="json").status_code == 405


def test_admin_api_throttle_applies(staff, settings):
    # Counted in the shared database table, so every web process sees the same count.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "admin_api": "2/min"}
    statuses = [patch(staff, {}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
