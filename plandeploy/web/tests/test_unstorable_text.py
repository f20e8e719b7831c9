"""Text PostgreSQL cannot store in a URL or form, or a Host not allowed: a 400 page, not a 500.

The same middleware as the APIs' (api.text_middleware) refuses it; pages get HTML.
"""

from __future__ import annotations

import pytest
from django.test import Client

from plandeploy.accounts.models import OrgConnection, User
from plandeploy.web import lookups
from plandeploy.web.tests.catalog_rows import sample_plan

pytestmark = pytest.mark.django_db


def test_a_page_form_field_with_nul_is_a_400_page_not_a_500():
    # The sign-in form's user name and the org connect form's name were looked up or
    # written as they came, and PostgreSQL's refusal was a 500.
    browser = Client(raise_request_exception=False)
    response = browser.post("/accounts/login/", "username=dana%00&password=x",
                            content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "cannot be stored" in response.content.decode()
    user = User.objects.create_user("erin", password="pw-erin-1234")
    browser.force_login(user)
    response = browser.post("/org/connect/", {"name": "Erin\x00s org"})  # multipart
    assert response.status_code == 400
    assert not OrgConnection.objects.filter(user=user).exists()


def test_a_page_url_or_query_with_nul_is_a_400_page():
    plan = sample_plan()
    browser = Client(raise_request_exception=False)
    for url in (lookups.plan_url(plan) + "?scratch_org_id=%00", "/products/%00/", "/?q=%00"):
        response = browser.get(url)
        assert response.status_code == 400, url
        assert response["Content-Type"].startswith("text/html")


def test_the_400_page_follows_the_browsers_language():
    response = Client().get("/?q=%00", HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 400
    assert 'lang="es"' in response.content.decode()
    assert "no se pueden guardar" in response.content.decode()


def test_a_host_not_allowed_is_a_400_page_not_a_500():
    # Refused by CommonMiddleware before the session and the user are loaded.
    response = Client(raise_request_exception=False).get("/", HTTP_HOST="unknown.example")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Bad request" in page
    # Nothing in it was unstorable: the page must not say so.
    assert "could not understand this request" in page and "cannot be stored" not in page
