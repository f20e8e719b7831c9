"""The session's user loads with their org connection in one query, and the session checks
that Django makes of it (a changed password signs the session out) still hold."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps as global_apps
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


def test_the_session_is_signed_in_through_our_backend_and_loads_without_the_orm(
        django_assert_num_queries):
    user = factories.user()
    request = _session_request(user)
    assert request.session[auth.BACKEND_SESSION_KEY] == (
        "plandeploy.accounts.backends.PasswordBackend")
    with django_assert_num_queries(1) as queries:  # the session was read just above
        auth.get_user(request)
    # The user's query is the hand-written one (one join, aliased), not the ORM's.
    compiled = [q["sql"] for q in queries.captured_queries if "accounts_user" in q["sql"]]
    assert len(compiled) == 1 and '"accounts_user" u' in compiled[0], compiled


def test_an_inactive_or_deleted_user_is_signed_out():
    inactive, deleted = factories.user(), factories.user()
    inactive_request, deleted_request = _session_request(inactive), _session_request(deleted)
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    deleted.delete()
    assert not auth.get_user(inactive_request).is_authenticated
    assert not auth.get_user(deleted_request).is_authenticated


@pytest.mark.parametrize("old, new", [
    ("django.contrib.auth.backends.ModelBackend",
     "plandeploy.accounts.backends.PasswordBackend"),
    ("allauth.account.auth_backends.AuthenticationBackend",
     "plandeploy.accounts.backends.SalesforceBackend"),
])
def test_sessions_of_the_replaced_backends_stay_signed_in_after_the_migration(old, new):
    migration = import_module("plandeploy.accounts.migrations.0006_sessions_use_our_backends")
    user = factories.user()
    old_session = SessionStore()
    old_session.update({auth.SESSION_KEY: str(user.pk), auth.BACKEND_SESSION_KEY: old,
                        auth.HASH_SESSION_KEY: user.get_session_auth_hash()})
    old_session.create()
    request = RequestFactory().get("/")
    request.session = SessionStore(old_session.session_key)
    assert not auth.get_user(request).is_authenticated  # the old path is not configured

    migration.forwards(global_apps, None)

    request.session = SessionStore(old_session.session_key)
    assert request.session[auth.BACKEND_SESSION_KEY] == new
    assert auth.get_user(request).pk == user.pk
    migration.backwards(global_apps, None)
    assert SessionStore(old_session.session_key)[auth.BACKEND_SESSION_KEY] == old
