"""While the database does not answer, the API says 503 in JSON and the pages say 503 in
HTML, both with Retry-After (a real connection to a port where no database listens)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from plandeploy.api.errors import DATABASE_RETRY_AFTER_SECONDS
from plandeploy.testing.processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def database_away():
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def test_the_api_answers_503_json_with_retry_after(database_away):
    response = Client(raise_request_exception=False).get("/api/products/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert "database does not answer" in response.json()["detail"]


def test_a_page_answers_503_html_with_retry_after(database_away):
    response = Client(raise_request_exception=False).get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert response["Content-Type"].startswith("text/html")
    assert b"Please try again" in response.content


def test_other_server_errors_stay_500():
    # Not raised by the database: the handler keeps its plain 500 (outside any exception).
    from django.test import RequestFactory

    from plandeploy.api.errors import server_error

    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(RequestFactory().get("/api/jobs/x/"))
    assert response.status_code == 500 and not response.has_header("Retry-After")
