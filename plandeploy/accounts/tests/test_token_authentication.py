"""Token authentication: one query for the token, its user and their org, and every refusal."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.test import APIClient

from plandeploy.accounts.authentication import ExpiringTokenAuthentication
from plandeploy.accounts.models import OrgConnection, User
from plandeploy.catalog.tests import factories


@pytest.mark.django_db
def test_token_user_and_org_connection_are_read_in_one_query(django_assert_num_queries):
    user = factories.user()
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    key = factories.api_token(user)
    connection = OrgConnection.objects.get(user=user)
    with django_assert_num_queries(1):
        authed, token = ExpiringTokenAuthentication().authenticate_credentials(key)
        # Everything the views read of the user, the encrypted token decrypted as the ORM does.
        assert (authed.pk, authed.username, authed.is_staff) == (user.pk, user.username, False)
        assert authed.org_id == connection.org_id
        assert authed.full_org_type == connection.full_org_type
        assert authed.token == (connection.access_token, None)
        assert token.user is authed and token.user_id == user.pk
        assert authed.org_connection.user is authed


@pytest.mark.django_db
def test_a_user_without_an_org_connection_reads_none_without_a_query(django_assert_num_queries):
    user = factories.user(connected=False)
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    key = factories.api_token(user)
    with django_assert_num_queries(1):
        authed, _token = ExpiringTokenAuthentication().authenticate_credentials(key)
        assert authed.org_id is None
        with pytest.raises(OrgConnection.DoesNotExist):
            authed.org_connection  # noqa: B018


@pytest.mark.django_db
def test_an_unknown_token_is_refused_without_echoing_it():
    factories.api_token(factories.user())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="token " + "ab" * 20)
    response = client.get("/api/user/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


@pytest.mark.django_db
def test_an_inactive_users_token_is_refused():
    user = factories.user()
    key = factories.api_token(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(exceptions.AuthenticationFailed, match="User inactive or deleted."):
        ExpiringTokenAuthentication().authenticate_credentials(key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    assert client.get("/api/user/").status_code == 401
