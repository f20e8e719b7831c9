"""Sign in with Salesforce through the real web server against the Salesforce fake:
production, sandbox and a custom My Domain; refused domains; what /api/user/ then shows."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.db import connection

from plandeploy.accounts.models import OrgConnection, OrgType
from plandeploy.accounts.tests.salesforce_support import (
    CLIENT_ID,
    SalesforceSite,
    sign_in,
    start_sign_in,
    start_site,
)
from plandeploy.orgs import salesforce
from plandeploy.testing.processes import REPO_ROOT, subprocess_env, web_process

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker):
    site = start_site()
    with django_db_blocker.unblock(), web_process(port=site.port, **site.env()):
        yield site
    site.fake.close()


def browser(site: SalesforceSite) -> httpx.Client:
    return httpx.Client(base_url=site.base_url, timeout=30)


@pytest.mark.parametrize("domain, full_org_type", [
    ("production", "Production"), ("sandbox", "Sandbox"), ("custom", "Developer"),
])
def test_sign_in_records_the_org_and_api_user_shows_it(site, domain, full_org_type):
    custom = site.my_domain if domain == "custom" else ""
    with browser(site) as http:
        done = sign_in(site, http, domain, custom)
        assert done.status_code == 302 and done.headers["location"] == "/", done.text
        user = http.get("/api/user/")
        page = http.get("/").text
    assert user.status_code == 200, user.text
    org = site.orgs[domain]
    body = user.json()
    assert body == {
        "id": body["id"],
        "username": site.users[domain].username,
        "email": site.users[domain].email,
        "valid_token_for": org.org_id,
        "org_name": org.name,
        # As the reference: the raw OrganizationType; the classification decides
        # is_production_org.
        "org_type": org.organization_type,
        "is_production_org": full_org_type == "Production",
        "is_staff": False,
    }
    assert len(org.org_id) == 18
    assert f'<span class="org-name">{org.name}</span>' in page
    row = OrgConnection.objects.get(org_id=org.org_id)
    assert row.org_type == OrgType.SALESFORCE
    assert row.instance_url == org.instance_url
    assert row.org_username == site.users[domain].username
    assert row.organization_type == org.organization_type
    assert row.full_org_type == full_org_type
    assert row.access_token in site.fake.access_tokens
    assert row.refresh_token in site.fake.refresh_tokens
    # Stored encrypted; allauth keeps no token and only ids of the user and org.
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM accounts_orgconnection "
                       "WHERE id = %s", [row.pk])
        stored = cursor.fetchone()
    assert row.access_token not in stored[0] and row.refresh_token not in stored[1]
    assert not SocialToken.objects.exists()
    account = SocialAccount.objects.get(uid=site.users[domain].user_id)
    assert account.user_id == row.user_id
    assert set(account.extra_data) <= {"user_id", "organization_id", "preferred_username",
                                       "email", "email_verified", "given_name", "family_name"}


def test_the_authorize_request_uses_pkce_and_the_configured_callback(site):
    with browser(site) as http:
        started = start_sign_in(http, "sandbox")
    location = urlsplit(started.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == site.sandbox
    assert location.path == "/services/oauth2/authorize"
    query = parse_qs(location.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [site.callback]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert "refresh_token" in query["scope"][0].split()


@pytest.mark.parametrize("custom_domain", [
    "https://evil.example.com",
    "https://acme.my.salesforce.com.evil.example",
    "http://acme.my.salesforce.com",
    "https://acme.my.salesforce.com/path",
    "https://user@acme.my.salesforce.com",
])
def test_a_custom_domain_that_is_not_a_my_domain_is_refused(site, custom_domain):
    before = len(site.fake.requests)
    with browser(site) as http:
        refused = start_sign_in(http, "custom", custom_domain)
    assert refused.status_code == 400
    assert 'id="salesforce-error"' in refused.text
    assert "my.salesforce.com" in refused.text or "https" in refused.text
    # Nothing was sent anywhere.
    assert len(site.fake.requests) == before


def test_my_domain_rules():
    assert salesforce.login_url("custom", "acme.my.salesforce.com") == (
        "https://acme.my.salesforce.com"
    )
    assert salesforce.login_url("custom", "https://Acme.My.Salesforce-Sites.com/") == (
        "https://acme.my.salesforce-sites.com"
    )
    for bad in ("my.salesforce.com", "https://", "https://x.salesforce.com", "ftp://a.b"):
        with pytest.raises(salesforce.InvalidDomain):
            salesforce.login_url("custom", bad)


def test_a_callback_without_a_started_sign_in_is_an_error_page(site):
    with browser(site) as http:
        page = http.get("/accounts/salesforce/login/callback/?code=x&state=y")
    assert page.status_code == 401, page.text
    assert "could not sign you in with Salesforce" in page.text


def test_without_the_connected_app_the_sign_in_page_says_it_is_off(client):
    page = client.get("/accounts/login/")
    assert 'id="salesforce-unavailable"' in page.content.decode()
    assert "ORG_TYPES does not include salesforce." in page.content.decode()
    script = ("import django; django.setup(); from django.conf import settings; "
              "print(settings.SALESFORCE_ENABLED, settings.SALESFORCE_UNAVAILABLE_REASON)")
    env = subprocess_env(ORG_TYPES="salesforce")
    for name in ("SFDX_CLIENT_ID", "SFDX_CLIENT_SECRET", "SFDX_CLIENT_CALLBACK_URL"):
        env.pop(name, None)
    env["DJANGO_SETTINGS_MODULE"] = "plandeploy.settings"
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == (
        "False SFDX_CLIENT_ID, SFDX_CLIENT_SECRET, SFDX_CLIENT_CALLBACK_URL not set."
    )


def test_without_local_in_org_types_local_orgs_and_their_scratch_orgs_are_off(client, settings):
    from plandeploy.accounts.models import User

    settings.LOCAL_ORGS_OFFERED = False
    user = User.objects.create(username="no-local")
    client.force_login(user)
    refused = client.post("/api/orgs/connect/", {"name": "x"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "This site does not offer local orgs."}
    assert not OrgConnection.objects.filter(user=user).exists()
    assert client.get("/api/ui/bootstrap/").json()["SCRATCH_ORGS_AVAILABLE"] is False
