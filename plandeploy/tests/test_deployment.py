"""Production settings: `manage check --deploy` passes with SECURE_DEPLOYMENT, the web server
believes only TRUSTED_PROXIES' forwarded headers, and operator endpoints answer JSON."""

from __future__ import annotations

import secrets
import subprocess
import sys

import httpx
import pytest

from plandeploy.testing.processes import REPO_ROOT, subprocess_env, web_process

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "plandeploy.example.com",
    "SECURE_DEPLOYMENT": "true",
}


def deploy_check(**env: str) -> subprocess.CompletedProcess:
    environment = subprocess_env(SECRET_KEY=secrets.token_urlsafe(50), **env)
    return subprocess.run(
        [sys.executable, "-m", "plandeploy.cli", "manage", "check", "--deploy",
         "--fail-level", "WARNING"],
        env=environment,
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )


def test_deploy_check_passes_with_production_settings():
    result = deploy_check(**PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_fails_without_the_tls_switch():
    result = deploy_check(**{**PRODUCTION, "SECURE_DEPLOYMENT": "false"})
    assert result.returncode != 0
    assert "SESSION_COOKIE_SECURE" in result.stderr + result.stdout


@pytest.mark.parametrize("path", ["/metrics/x", "/metrics/", "/readyz/", "/readyz/x",
                                  "/healthz/", "/healthz/x/y"])
def test_unknown_paths_below_operator_endpoints_are_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_refused_metrics_answer_json(client, settings):
    settings.METRICS_ALLOWED_SUBNETS = []
    settings.METRICS_TOKEN = "s3cret-token"
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Bearer"
    assert refused.json() == {"detail": "A valid bearer token is required."}
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").json() == {"detail": "Not found."}


def test_behind_a_trusted_proxy_https_and_the_client_address_are_believed():
    with web_process(**{**PRODUCTION, "ALLOWED_HOSTS": "127.0.0.1"}, SECURE_SSL_REDIRECT="true",
                     TRUSTED_PROXIES="127.0.0.1") as base_url:
        plain = httpx.get(f"{base_url}/api/products/")
        assert plain.status_code == 301
        assert plain.headers["location"].startswith("https://127.0.0.1")
        over_tls = httpx.get(f"{base_url}/api/products/",
                             headers={"X-Forwarded-Proto": "https"})
        assert over_tls.status_code == 200
        assert over_tls.headers["strict-transport-security"].startswith("max-age=31536000")
        # Probes over plain HTTP get their answer, not a redirect.
        assert httpx.get(f"{base_url}/readyz").status_code in (200, 503)
        # /metrics sees the client the proxy names, outside the loopback allow-list.
        assert httpx.get(f"{base_url}/metrics").status_code == 200
        forwarded = httpx.get(f"{base_url}/metrics",
                              headers={"X-Forwarded-For": "203.0.113.9"})
        assert forwarded.status_code == 404


def test_forwarded_headers_from_an_untrusted_client_are_ignored():
    with web_process(TRUSTED_PROXIES="10.9.9.9") as base_url:
        forwarded = httpx.get(f"{base_url}/metrics",
                              headers={"X-Forwarded-For": "203.0.113.9"})
        assert forwarded.status_code == 200
