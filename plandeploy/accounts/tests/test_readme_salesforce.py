"""The README's Salesforce settings, word for word, make a deployment whose sign-in works
(against the Salesforce fake: only the base URLs and the fake's certificate are added)."""

from __future__ import annotations

import re

import httpx
import pytest

from plandeploy.accounts.tests.salesforce_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    sign_in,
    start_site,
)
from plandeploy.testing.processes import REPO_ROOT, web_process

pytestmark = pytest.mark.django_db(transaction=True)


def readme_settings() -> dict[str, str]:
    text = (REPO_ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- salesforce-settings -->\n```sh\n(.*?)```\n<!-- /salesforce-settings -->",
        text, re.DOTALL,
    )
    assert block, "README.md lost its salesforce-settings block"
    return dict(line.split("=", 1) for line in block.group(1).splitlines() if line.strip())


def test_a_deployment_configured_from_the_readme_signs_people_in(django_db_blocker):
    settings = readme_settings()
    assert set(settings) == {"ORG_TYPES", "SFDX_CLIENT_ID", "SFDX_CLIENT_SECRET",
                             "SFDX_CLIENT_CALLBACK_URL"}
    site = start_site()
    try:
        # What the person fills in: the app's key and secret, and their site's address.
        filled = {
            name: value.replace("<Consumer Key>", CLIENT_ID)
            .replace("<Consumer Secret>", CLIENT_SECRET)
            .replace("https://plandeploy.example.com", site.base_url)
            for name, value in settings.items()
        }
        only_base_urls = {
            name: value for name, value in site.env().items()
            if name.startswith("SALESFORCE_") or name == "REQUESTS_CA_BUNDLE"
        }
        with django_db_blocker.unblock(), \
                web_process(port=site.port, **filled, **only_base_urls):
            with httpx.Client(base_url=site.base_url, timeout=30) as http:
                done = sign_in(site, http, "production")
                assert done.status_code == 302, done.text
                user = http.get("/api/user/").json()
        assert user["valid_token_for"] == site.orgs["production"].org_id
        assert user["org_name"] == "Acme Production"
    finally:
        site.fake.close()
