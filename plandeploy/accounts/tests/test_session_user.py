"""The session's user loads with their org connection in one query, and the session checks
that Django makes of it (a changed password signs the session out) still hold."""

from __future__ import annotations

import pytest
from django.contrib import auth
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, RequestFactory

from plandeploy.accounts.models import User
from plandeploy.catalog.tests import factories

pytestmark = pytest.mark.django_db


def _session_request(user: User):
    client = Client()
    client.force_login(user)
    request = RequestFactory().get("/")
    request.session = SessionStore(client.session.session_key)
    return request


def test_the_session_user_and_their_org_connection_cost_one_query_after_the_session(
        django_assert_num_queries):
    user = factories.user()
    request = _session_request(user)
    with django_assert_num_queries(2):  # the session row, the user with their connection
        loaded = auth.get_user(request)
        assert loaded.pk == user.pk
        assert loaded.org_id == user.org_id
        assert loaded.valid_token_for == user.org_id


def test_a_user_without_an_org_connection_costs_no_query_for_it(django_assert_num_queries):
    user = factories.user(connected=False)
    request = _session_request(user)
    with django_assert_num_queries(2):
        loaded = auth.get_user(request)
        assert loaded.is_authenticated
        assert loaded.org_id is None


def test_a_changed_password_still_signs_the_session_out():
    user = factories.user()
    request = _session_request(user)
    user.set_password("another-long-password")
    user.save()
    assert not auth.get_user(request).is_authenticated
