"""create_user and create_api_token, run as `plandeploy manage` would."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from plandeploy.accounts.models import User
from plandeploy.accounts.tokens import digest, issue_token

pytestmark = pytest.mark.django_db


def test_create_user_with_password_from_env(monkeypatch):
    monkeypatch.setenv("NEW_PW", "s3cret-pass")
    call_command("create_user", "alice", "--staff", "--password-from-env", "NEW_PW",
                 stdout=io.StringIO())
    user = User.objects.get(username="alice")
    assert user.is_staff and not user.is_superuser and user.check_password("s3cret-pass")
    with pytest.raises(CommandError):
        call_command("create_user", "alice", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("create_user", "bob", "--password-from-env", "UNSET_VAR_X",
                     stdout=io.StringIO())
    call_command("create_user", "root", "--superuser", stdout=io.StringIO())
    root = User.objects.get(username="root")
    assert root.is_superuser and root.is_staff and not root.has_usable_password()


def test_create_api_token_prints_only_the_key_and_it_works():
    call_command("create_user", "pub", "--superuser", stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_api_token", "pub", stdout=out)
    key = out.getvalue().strip()
    assert out.getvalue() == key + "\n"
    # Only the digest is stored: the printed token is nowhere in the table.
    assert Token.objects.get(user__username="pub").key == digest(key) != key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    assert client.get("/admin/rest/products").status_code == 200
    second = io.StringIO()
    call_command("create_api_token", "pub", stdout=second)
    assert second.getvalue().strip() != key
    client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    assert client.get("/admin/rest/products").status_code == 401
    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", stdout=io.StringIO())


def test_expired_api_token_is_refused(settings):
    from datetime import timedelta

    from django.utils import timezone

    call_command("create_user", "old", "--staff", stdout=io.StringIO())
    key = issue_token(User.objects.get(username="old"))
    Token.objects.filter(user__username="old").update(
        created=timezone.now() - timedelta(days=settings.API_TOKEN_EXPIRE_AFTER_DAYS, seconds=1)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    response = client.get("/api/user/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Token has expired."}
