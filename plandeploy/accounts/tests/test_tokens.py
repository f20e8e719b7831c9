"""API tokens are stored as digests only; the issued token still authenticates."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from plandeploy.accounts.tokens import digest, issue_token
from plandeploy.catalog.tests import factories

pytestmark = pytest.mark.django_db


def test_an_issued_token_authenticates_and_is_not_stored():
    user = factories.user(staff=True)
    key = issue_token(user)
    assert not Token.objects.filter(key=key).exists()
    assert Token.objects.get(user=user).key == digest(key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    assert client.get("/api/user/").status_code == 200
    # The stored digest is no credential: presenting it fails.
    client.credentials(HTTP_AUTHORIZATION=f"token {digest(key)}")
    assert client.get("/api/user/").status_code == 401


@pytest.mark.plants_secrets("authtoken_token")  # a token as stored before hashing
def test_the_upgrade_migration_computes_the_same_digest():
    """Tokens issued before hashing keep working: the migration's SQL digest is ours."""
    migration = importlib.import_module("plandeploy.accounts.migrations.0004_hash_api_tokens")
    sql = migration.Migration.operations[0].sql
    user = factories.user(staff=True)
    Token.objects.create(user=user, key="a" * 40)  # as stored before the migration
    with connection.cursor() as cursor:
        cursor.execute(sql)
    assert Token.objects.get(user=user).key == digest("a" * 40)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token {'a' * 40}")
    assert client.get("/api/user/").status_code == 200
