"""API-token requests count as activity for the idle-user rule, recorded at most once a minute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from plandeploy.accounts.models import User
from plandeploy.catalog.tests import factories


def _token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token {factories.api_token(user)}")
    return client


def _user_updates(queries: CaptureQueriesContext) -> list[str]:
    table = User._meta.db_table
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].startswith(f'UPDATE "{table}"')]


@pytest.mark.django_db
def test_token_request_records_activity_so_the_user_is_not_idle():
    long_ago = timezone.now() - timedelta(days=40)
    user = factories.user()
    User.objects.filter(pk=user.pk).update(last_login=long_ago, date_joined=long_ago)
    assert _token_client(user).get("/api/user/").status_code == 200
    user.refresh_from_db()
    assert user.last_login > timezone.now() - timedelta(minutes=1)
    # The idle-user rule now leaves them alone.
    idle_cutoff = timezone.now() - timedelta(days=30)
    assert not User.objects.filter(pk=user.pk, last_login__lte=idle_cutoff).exists()


@pytest.mark.django_db
def test_activity_is_written_at_most_once_a_minute():
    user = factories.user()
    client = _token_client(user)
    with CaptureQueriesContext(connection) as first:
        client.get("/api/user/")
    with CaptureQueriesContext(connection) as second:
        client.get("/api/user/")
    assert len(_user_updates(first)) == 1
    assert _user_updates(second) == []


@pytest.mark.django_db
def test_expired_token_records_nothing():
    long_ago = timezone.now() - timedelta(days=40)
    user = factories.user()
    User.objects.filter(pk=user.pk).update(last_login=long_ago)
    client = _token_client(user)
    Token.objects.filter(user=user).update(created=long_ago)
    assert client.get("/api/user/").status_code == 401
    user.refresh_from_db()
    assert user.last_login == long_ago
