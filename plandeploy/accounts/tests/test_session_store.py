"""The session engine's hand-written read keeps Django's rules: a live session loads, an
unknown or expired one is empty and gets a new key when saved (real PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from plandeploy.accounts.session_store import SessionStore

pytestmark = pytest.mark.django_db


def _saved(**data) -> SessionStore:
    store = SessionStore()
    store.update(data)
    store.create()
    return store


def test_a_live_session_loads_in_one_query(django_assert_num_queries):
    key = _saved(colour="blue").session_key
    with django_assert_num_queries(1):
        assert SessionStore(key)["colour"] == "blue"


def test_an_expired_session_is_empty_and_saving_gives_it_a_new_key():
    old = _saved(colour="blue")
    Session.objects.filter(session_key=old.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1))
    store = SessionStore(old.session_key)
    assert dict(store.items()) == {}
    store["colour"] = "red"
    store.save()
    assert store.session_key != old.session_key
    assert SessionStore(store.session_key)["colour"] == "red"


def test_an_unknown_key_is_an_empty_session():
    store = SessionStore("x" * 32)
    assert dict(store.items()) == {}
    assert store.session_key is None
