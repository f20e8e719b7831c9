"""A deployment wired to the Salesforce fake: its environment, and a browser-like sign-in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from plandeploy.testing.fake_salesforce import FakeOrg, FakeSalesforce, FakeUser
from plandeploy.testing.processes import free_port

CLIENT_ID = "3MVG9fake.client.id"
CLIENT_SECRET = "fake-client-secret-0123456789"


@dataclass
class SalesforceSite:
    """The fake with a production login host, a sandbox login host and a My Domain host,
    an org and a user behind each, and the environment of a deployment that uses them."""

    fake: FakeSalesforce
    port: int
    production: str
    sandbox: str
    my_domain: str
    orgs: dict[str, FakeOrg] = field(default_factory=dict)
    users: dict[str, FakeUser] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def callback(self) -> str:
        return f"{self.base_url}/accounts/salesforce/login/callback/"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "ORG_TYPES": "local,salesforce",
            "SFDX_CLIENT_ID": CLIENT_ID,
            "SFDX_CLIENT_SECRET": CLIENT_SECRET,
            "SFDX_CLIENT_CALLBACK_URL": self.callback,
            "SALESFORCE_LOGIN_URL": self.production,
            "SALESFORCE_SANDBOX_LOGIN_URL": self.sandbox,
            # The fake's My Domain host is "localhost": allowed exactly, as an operator
            # would allow a host outside the my.salesforce.com suffixes.
            "SALESFORCE_ALLOWED_DOMAINS": "localhost",
            "REQUESTS_CA_BUNDLE": self.fake.ca_file,
            **extra,
        }


def start_site() -> SalesforceSite:
    port = free_port()
    fake = FakeSalesforce(CLIENT_ID, CLIENT_SECRET,
                          f"http://127.0.0.1:{port}/accounts/salesforce/login/callback/")
    site = SalesforceSite(fake, port, fake.add_host(), fake.add_host(),
                          fake.add_host("localhost"))
    site.orgs["production"] = fake.add_org("Acme Production",
                                           organization_type="Enterprise Edition")
    site.orgs["sandbox"] = fake.add_org("Acme UAT", organization_type="Enterprise Edition",
                                        is_sandbox=True)
    site.orgs["custom"] = fake.add_org("Acme Dev", organization_type="Developer Edition")
    for kind, host in (("production", site.production), ("sandbox", site.sandbox),
                       ("custom", site.my_domain)):
        site.users[kind] = fake.add_user(site.orgs[kind], f"admin@{kind}.acme.example")
        fake.sign_in_as(host, site.users[kind])
    return site


def csrf_token(http: httpx.Client, path: str = "/accounts/login/") -> str:
    page = http.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def start_sign_in(http: httpx.Client, domain: str, custom_domain: str = "",
                  next_url: str = "") -> httpx.Response:
    token = csrf_token(http)
    return http.post("/accounts/salesforce/login/", data={
        "csrfmiddlewaretoken": token, "domain": domain, "custom_domain": custom_domain,
        "next": next_url,
    })


def sign_in(site: SalesforceSite, http: httpx.Client, domain: str, custom_domain: str = ""
            ) -> httpx.Response:
    """The browser's part: our start view → the fake's authorize page → our callback."""
    started = start_sign_in(http, domain, custom_domain)
    assert started.status_code == 302, started.text
    authorize = started.headers["location"]
    with httpx.Client(verify=site.fake.ca_file) as browser_to_salesforce:
        approved = browser_to_salesforce.get(authorize)
    assert approved.status_code == 302, approved.text
    callback = approved.headers["location"]
    assert callback.startswith(site.callback), callback
    parts = urlsplit(callback)
    return http.get(f"{parts.path}?{parts.query}")
