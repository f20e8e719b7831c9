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


def _fields(instance) -> dict:
    return {key: value for key, value in instance.__dict__.items() if key != "_state"}


def test_the_written_lookup_by_pk_loads_what_the_orm_would():
    """`User.objects.get(pk=...)` (how the auth backends load the session's user) runs its
    own SQL: the user and their org must come out exactly as the ORM's select_related."""
    user = factories.user()
    written, orm = User.objects.get(pk=str(user.pk)), User.objects.filter(pk=user.pk).get()
    assert _fields(written) == _fields(orm)
    assert _fields(written.org_connection) == _fields(orm.org_connection)
    assert written.org_connection.user is written  # no query back to the user
    assert not written._state.adding and written._state.db == orm._state.db


def test_the_written_lookup_by_pk_fails_as_the_orm_does():
    with pytest.raises(User.DoesNotExist):
        User.objects.get(pk=10**9)
    with pytest.raises(ValueError) as written:
        User.objects.get(pk="not-a-number")
    with pytest.raises(ValueError) as orm:
        User.objects.filter(pk="not-a-number").get()
    assert str(written.value) == str(orm.value)
    unconnected = factories.user(connected=False)
    with pytest.raises(User.org_connection.RelatedObjectDoesNotExist):
        User.objects.get(pk=unconnected.pk).org_connection  # noqa: B018  (the access raises)
    # Other lookups keep the ORM's path.
    assert User.objects.get(username=unconnected.username).pk == unconnected.pk
