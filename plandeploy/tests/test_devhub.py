"""Scratch orgs from a Dev Hub (plandeploy/orgs/devhub.py) against the Salesforce fake:
created with a back-off, signed in, deleted by 15- or 18-character id; a failed or timed-out
creation, or a refused sign-in, leaves nothing on the Dev Hub."""

from __future__ import annotations

import datetime

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from plandeploy.orgs import devhub
from plandeploy.testing.fake_salesforce import FakeSalesforce, ScratchPlan

CALLBACK = "https://plandeploy.example.com/accounts/salesforce/login/callback/"


def _key_and_certificate() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "devhub")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def fake(settings, monkeypatch, tmp_path):
    with FakeSalesforce("hub-client", "hub-secret", CALLBACK) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        login = fake.add_host()
        hub = fake.add_org("Dev Hub", organization_type="Enterprise Edition")
        fake.add_user(hub, "hub@acme.example")
        key, cert = _key_and_certificate()
        fake.register_hub_certificate("hub-client", cert)
        key_file = tmp_path / "hub.key"
        key_file.write_text(key)
        settings.SALESFORCE_LOGIN_URL = login
        settings.SFDX_CLIENT_ID = "hub-client"
        settings.SFDX_CLIENT_SECRET = "hub-secret"
        settings.SFDX_CLIENT_CALLBACK_URL = CALLBACK
        settings.DEVHUB_USERNAME = "hub@acme.example"
        settings.SFDX_HUB_KEY = str(key_file)  # a file; the PEM text itself works too
        yield fake


def create(**kwargs):
    waits: list[float] = []
    org = devhub.create_scratch_org(duration_days=7, admin_email="person@example.com",
                                    org_name="Try it", timeout=kwargs.pop("timeout", 60),
                                    sleep=kwargs.pop("sleep", waits.append), **kwargs)
    return org, waits


def test_a_scratch_org_is_created_signed_in_and_deleted(fake, settings):
    fake.scratch_plan = ScratchPlan(creating_polls=3)
    org, waits = create()
    assert waits == [1.0, 2.0, 4.0]  # back-off between polls
    assert len(org.org_id) == 18 and org.org_id in fake.orgs
    (request,) = fake.scratch_requests.values()
    assert request["_request"]["AdminEmail"] == "person@example.com"
    assert request["_request"]["DurationDays"] == 7
    # The org's own token reaches it.
    reply = requests.get(f"{org.instance_url}/services/data/v62.0/query/",
                         params={"q": "SELECT Id, Name FROM Organization"},
                         headers={"Authorization": f"Bearer {org.access_token}"})
    assert reply.json()["records"][0]["Id"] == org.org_id
    assert devhub.delete_scratch_org(org.org_id) is True
    assert not fake.active_scratch_orgs and org.org_id not in fake.orgs
    assert devhub.delete_scratch_org(org.org_id) is False
    # The PEM text in SFDX_HUB_KEY works as well as its file, and a 15-character id too.
    settings.SFDX_HUB_KEY = open(settings.SFDX_HUB_KEY).read()
    other, _ = create()
    assert devhub.delete_scratch_org(other.org_id[:15]) is True
    assert not fake.active_scratch_orgs


def test_a_failed_creation_leaves_nothing_behind(fake):
    fake.scratch_plan = ScratchPlan(creating_polls=1, outcome="Error", error_code="SH-0001")
    with pytest.raises(devhub.DevHubError, match="Scratch org creation failed: SH-0001"):
        create()
    assert not fake.scratch_requests and not fake.active_scratch_orgs


def test_a_timed_out_creation_leaves_nothing_behind(fake):
    fake.scratch_plan = ScratchPlan(outcome="never")
    with pytest.raises(devhub.DevHubError, match="Org creation timed out"):
        create(timeout=0.3, sleep=__import__("time").sleep)
    assert not fake.scratch_requests and not fake.active_scratch_orgs


def test_a_refused_sign_in_to_the_new_org_deletes_it(fake, settings):
    fake.scratch_plan = ScratchPlan(creating_polls=0)
    settings.SFDX_CLIENT_SECRET = "not-the-secret"
    with pytest.raises(devhub.DevHubError, match="sign-in was refused"):
        create()
    assert not fake.scratch_requests and not fake.active_scratch_orgs
    assert [o.name for o in fake.orgs.values()] == ["Dev Hub"]


def test_the_dev_hub_sign_in_is_checked(fake, settings):
    other_key, _ = _key_and_certificate()
    settings.SFDX_HUB_KEY = other_key
    with pytest.raises(devhub.DevHubError, match="refused its sign-in"):
        create()
    settings.DEVHUB_USERNAME = ""
    assert not devhub.available()
    with pytest.raises(devhub.DevHubUnavailable):
        create()
