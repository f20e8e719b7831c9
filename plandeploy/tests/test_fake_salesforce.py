"""The loopback fake of Salesforce answers as the real endpoints do, for the clients that call
them (requests, CumulusCI's OAuth client and org config, simple_salesforce)."""

from __future__ import annotations

import base64
import datetime
import hashlib
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from cumulusci.core.config import OrgConfig
from cumulusci.oauth.client import OAuth2Client, OAuth2ClientConfig

from plandeploy.testing.fake_salesforce import JWT_GRANT, SFDX_REDIRECT_URI, FakeSalesforce

CALLBACK = "http://127.0.0.1:9/accounts/salesforce/login/callback/"


@pytest.fixture
def fake(monkeypatch):
    with FakeSalesforce("client-id", "client-secret", CALLBACK) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        fake.login = fake.add_host()
        fake.org = fake.add_org("Acme", organization_type="Enterprise Edition")
        fake.user = fake.add_user(fake.org, "admin@acme.example")
        fake.sign_in_as(fake.login, fake.user)
        yield fake


def authorize(fake, **extra) -> str:
    response = requests.get(f"{fake.login}/services/oauth2/authorize", params={
        "response_type": "code", "client_id": "client-id", "redirect_uri": CALLBACK,
        "state": "st", **extra,
    }, allow_redirects=False)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == ["st"]
    return query["code"][0]


def exchange(fake, code: str, **extra) -> requests.Response:
    return requests.post(f"{fake.login}/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": "client-id",
        "client_secret": "client-secret", "redirect_uri": CALLBACK, **extra,
    })


def test_web_server_flow_with_pkce_then_userinfo_and_organization(fake):
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    code = authorize(fake, code_challenge=challenge.decode().rstrip("="),
                     code_challenge_method="S256")
    assert exchange(fake, code, code_verifier="wrong").json()["error"] == "invalid_grant"
    code = authorize(fake, code_challenge=challenge.decode().rstrip("="))
    token = exchange(fake, code, code_verifier=verifier).json()
    assert token["instance_url"] == fake.org.instance_url
    assert token["id"] == f"{fake.login}/id/{fake.org.org_id}/{fake.user.user_id}"
    assert token["refresh_token"] and token["token_type"] == "Bearer"
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    info = requests.get(f"{fake.org.instance_url}/services/oauth2/userinfo", headers=bearer)
    assert info.json()["organization_id"] == fake.org.org_id
    assert info.json()["preferred_username"] == "admin@acme.example"
    query = requests.get(
        f"{fake.org.instance_url}/services/data/v62.0/query/",
        params={"q": "SELECT Id, Name, IsSandbox, OrganizationType, TrialExpirationDate "
                     "FROM Organization"},
        headers=bearer,
    ).json()
    assert query["totalSize"] == 1
    assert query["records"][0]["OrganizationType"] == "Enterprise Edition"
    assert query["records"][0]["attributes"]["type"] == "Organization"
    assert requests.get(f"{fake.org.instance_url}/services/oauth2/userinfo").status_code == 403
    assert requests.get(f"{fake.org.instance_url}/services/data/v62.0/query/?q=x").json()[0][
        "errorCode"] == "INVALID_SESSION_ID"


def test_token_failures(fake):
    code = authorize(fake)
    assert exchange(fake, code, client_secret="nope").json()["error"] == "invalid_client"
    # A code is good once.
    token = exchange(fake, authorize(fake)).json()
    client = OAuth2Client(OAuth2ClientConfig(
        client_id="client-id", client_secret="client-secret",
        auth_uri=f"{fake.org.instance_url}/services/oauth2/authorize",
        token_uri=f"{fake.org.instance_url}/services/oauth2/token",
    ))
    refreshed = client.refresh_token(token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert "refresh_token" not in refreshed
    fake.revoke(token["refresh_token"])
    with pytest.raises(Exception, match="invalid_grant"):
        client.refresh_token(token["refresh_token"])
    bad_secret = OAuth2Client(OAuth2ClientConfig(
        client_id="client-id", client_secret="wrong", auth_uri="x",
        token_uri=f"{fake.login}/services/oauth2/token",
    ))
    with pytest.raises(Exception, match="invalid_client"):
        bad_secret.refresh_token(token["refresh_token"])


def test_cumulusci_org_config_reads_the_org_and_writes_an_account(fake):
    token = exchange(fake, authorize(fake)).json()
    org_config = OrgConfig({
        "access_token": token["access_token"], "instance_url": token["instance_url"],
        "org_id": fake.org.org_id,
    }, "fake")
    org_config._load_userinfo()
    org_config._load_orginfo()
    assert org_config.config["org_type"] == "Enterprise Edition"
    sf = org_config.salesforce_client
    created = sf.Account.create({"Name": "Fake Co"})
    assert sf.Account.get(created["id"])["Name"] == "Fake Co"
    assert [r["Name"] for r in fake.records(fake.org, "Account")] == ["Fake Co"]
    door = requests.get(org_config.start_url, allow_redirects=False)
    assert door.headers["Location"].endswith("/lightning/page/home")


def _hub_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, cert.public_bytes(serialization.Encoding.PEM)


def test_jwt_bearer_and_a_scratch_org_from_the_dev_hub(fake):
    key, cert = _hub_key()
    fake.register_hub_certificate("client-id", cert)
    now = datetime.datetime.now(datetime.UTC)

    def assertion(exp):
        return jwt.encode({"iss": "client-id", "sub": "admin@acme.example", "aud": fake.login,
                           "exp": exp}, key, algorithm="RS256")

    url = f"{fake.login}/services/oauth2/token"
    expired = requests.post(url, data={"grant_type": JWT_GRANT,
                                       "assertion": assertion(now - datetime.timedelta(hours=1))})
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
    hub = requests.post(url, data={"grant_type": JWT_GRANT,
                                   "assertion": assertion(now + datetime.timedelta(minutes=3))})
    assert hub.status_code == 200, hub.text
    bearer = {"Authorization": f"Bearer {hub.json()['access_token']}"}
    data = f"{fake.org.instance_url}/services/data/v62.0"
    created = requests.post(f"{data}/sobjects/ScratchOrgInfo/", headers=bearer,
                            json={"DurationDays": 1, "AdminEmail": "a@b.example"}).json()

    def poll():
        return requests.get(f"{data}/query/", headers=bearer, params={
            "q": f"SELECT Status, ErrorCode, ScratchOrg, AuthCode, LoginUrl FROM ScratchOrgInfo "
                 f"WHERE Id = '{created['id']}'"}).json()["records"][0]

    assert poll()["Status"] == "Creating"
    active = poll()
    assert active["Status"] == "Active" and len(active["ScratchOrg"]) == 15
    token = requests.post(f"{active['LoginUrl']}/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": active["AuthCode"],
        "client_id": "client-id", "redirect_uri": SFDX_REDIRECT_URI,
    }).json()
    assert token["instance_url"] == active["LoginUrl"]
    found = requests.get(f"{data}/query/", headers=bearer, params={
        "q": f"SELECT Id FROM ActiveScratchOrg WHERE ScratchOrg = '{active['ScratchOrg']}'",
    }).json()["records"]
    assert len(found) == 1
    gone = requests.delete(f"{data}/sobjects/ActiveScratchOrg/{found[0]['Id']}", headers=bearer)
    assert gone.status_code == 204
    assert not fake.active_scratch_orgs
