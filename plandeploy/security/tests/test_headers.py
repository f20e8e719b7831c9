"""Security headers on every answer, and one switch (SECURE_DEPLOYMENT) for TLS deployments."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rest_framework.test import APIClient

from plandeploy.testing.processes import REPO_ROOT, subprocess_env

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/products/", "/accounts/login/", "/healthz"])
def test_every_answer_carries_the_headers(path):
    response = APIClient().get(path)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    policy = {part.split()[0]: part.split()[1:]
              for part in response["Content-Security-Policy"].split(";") if part.strip()}
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in response


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=subprocess_env(**env), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_the_tls_switch_and_not_without():
    production = {"DEBUG": "false", "ALLOWED_HOSTS": "deploy.example.com"}
    secure = _run("-m", "plandeploy.cli", "manage", "check", "--deploy", "--fail-level",
                  "WARNING", SECURE_DEPLOYMENT="true", **production)
    assert secure.returncode == 0, secure.stdout + secure.stderr
    assert "System check identified no issues" in secure.stdout
    plain = _run("-m", "plandeploy.cli", "manage", "check", "--deploy", **production)
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in plain.stdout + plain.stderr


def test_the_tls_switch_turns_on_hsts_and_secure_cookies_and_the_redirect_on_request():
    script = ("import django, json; django.setup(); from django.conf import settings as s; "
              "print(json.dumps([s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, "
              "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_HTTPONLY, "
              "s.SESSION_COOKIE_SAMESITE]))")
    # The redirect stays off unless asked for: a proxy that ends TLS usually redirects itself.
    for redirect in ("false", "true"):
        shown = _run("-c", script, SECURE_DEPLOYMENT="true", SECURE_SSL_REDIRECT=redirect,
                     DJANGO_SETTINGS_MODULE="plandeploy.settings")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout.strip().splitlines()[-1]) == [
            31536000, True, True, redirect == "true", True, "Lax"]
