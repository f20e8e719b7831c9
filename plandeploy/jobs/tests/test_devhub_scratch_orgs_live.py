"""Scratch orgs from a Dev Hub through the real web server, queue and worker, against the
Salesforce fake: created, auto-installed (the sample's REST task writes a record in it),
opened through "View org", deleted (row and ActiveScratchOrg) and expired; a failed and a
timed-out creation leave nothing on either side. No token reaches a stored row."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from plandeploy.accounts.tests.salesforce_support import start_site
from plandeploy.catalog.models import Plan, SupportedOrgs
from plandeploy.jobs.tests.test_salesforce_runs import salesforce_plan, stored_rows_with
from plandeploy.runs.models import Job, ScratchOrg
from plandeploy.runs.scratch_org_removal import request_deletion
from plandeploy.runs.tests.factories import EventListener, clear_queue
from plandeploy.testing.fake_salesforce import ScratchPlan
from plandeploy.testing.processes import (
    FAST_WORKER_TIMINGS,
    wait_until,
    web_process,
    worker_process,
)
from plandeploy.tests.test_devhub import _key_and_certificate

pytestmark = pytest.mark.django_db(transaction=True)
EMAIL = "person@example.com"


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, tmp_path_factory):
    site = start_site()
    hub = site.fake.add_org("Dev Hub", organization_type="Enterprise Edition")
    site.fake.add_user(hub, "hub@acme.example")
    key, cert = _key_and_certificate()
    site.fake.register_hub_certificate(site.fake.client_id, cert)
    key_file = tmp_path_factory.mktemp("hub") / "hub.key"
    key_file.write_text(key)
    env = site.env(
        DEVHUB_USERNAME="hub@acme.example", SFDX_HUB_KEY=str(key_file),
        DEVHUB_CREATE_TIMEOUT_SECONDS="4",
        CRON_SCHEDULE=json.dumps({"expire_scratch_orgs": "* * * * * */2"}),
    )
    with django_db_blocker.unblock():
        clear_queue()
        with web_process(port=site.port, **env), \
                worker_process(concurrency=2, **{**env, **FAST_WORKER_TIMINGS}):
            yield site
    site.fake.close()


@pytest.fixture(autouse=True)
def nothing_left(site):
    yield
    site.fake.scratch_plan = ScratchPlan()
    for org in ScratchOrg.objects.all():
        request_deletion(org.pk)
    wait_until(lambda: not ScratchOrg.objects.exists(), timeout=60,
               message="the scratch orgs to be deleted")
    assert not site.fake.active_scratch_orgs
    assert not [r for r in site.fake.scratch_requests.values() if r["Status"] != "Active"]


@pytest.fixture
def events():
    listener = EventListener()
    yield listener
    listener.close()


def scratch_plan() -> Plan:
    plan = salesforce_plan()
    Plan.objects.filter(pk=plan.pk).update(supported_orgs=SupportedOrgs.SCRATCH)
    return Plan.objects.get(pk=plan.pk)


class Browser:
    """An anonymous browser session holding a scratch org."""

    def __init__(self, base_url: str, plan: Plan) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.url = f"/api/plans/{plan.hashid}/scratch_org/"

    def create(self) -> dict:
        self.http.get("/api/ui/bootstrap/").raise_for_status()
        response = self.http.post(self.url, json={"email": EMAIL},
                                  headers={"X-CSRFToken": self.http.cookies["csrftoken"]})
        assert response.status_code == 202, response.text
        return response.json()

    def wait_created(self) -> dict:
        return wait_until(lambda: (d := self.http.get(self.url).json())["status"] != "started"
                          and d, timeout=60, message="the scratch org to be created")


def test_created_installed_opened_and_deleted(site, events):
    assert httpx.get(f"{site.base_url}/api/ui/bootstrap/").json()["SCRATCH_ORGS_AVAILABLE"]
    plan = scratch_plan()
    browser = Browser(site.base_url, plan)
    body = browser.create()
    org = browser.wait_created()
    assert org["status"] == "complete" and len(org["org_id"]) == 18, org
    fake_org = site.fake.orgs[org["org_id"]]
    (request,) = [r for r in site.fake.scratch_requests.values()
                  if r["ScratchOrg"] == org["org_id"][:15]]
    assert request["_request"]["AdminEmail"] == EMAIL
    row = ScratchOrg.objects.get(uuid=body["uuid"])
    assert row.email is None and row.access_token in site.fake.access_tokens
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, config::text FROM runs_scratchorg WHERE id = %s",
                       [row.pk])
        stored_token, stored_config = cursor.fetchone()
    assert row.access_token not in stored_token and row.access_token not in stored_config
    # The plan's steps are all required: it installs itself, against the scratch org.
    job_row = wait_until(lambda: Job.objects.filter(org_id=org["org_id"]).first(),
                         message="the installation job")
    wait_until(lambda: Job.objects.get(pk=job_row.pk).status != "started", timeout=90,
               message="the installation")
    assert Job.objects.get(pk=job_row.pk).status == "complete"
    assert [r["Name"] for r in site.fake.records(fake_org, "Account")] == [
        "plandeploy sample record"]
    # "View org": the front door, for this session and this org only.
    opened = browser.http.get(f"/api/scratch-orgs/{body['id']}/redirect/")
    assert opened.status_code == 302
    assert opened.headers["location"].startswith(f"{fake_org.instance_url}/secur/frontdoor.jsp")
    with httpx.Client(verify=site.fake.ca_file) as salesforce_browser:
        inside = salesforce_browser.get(opened.headers["location"])
    assert inside.headers["location"].endswith("/lightning/page/home")
    assert browser.http.get("/api/scratch-orgs/other/redirect/").status_code == 404
    assert httpx.get(f"{site.base_url}/api/scratch-orgs/{body['id']}/redirect/").status_code == 404
    # Deleted as the admin site deletes it: the row, and the org on the Dev Hub.
    request_deletion(row.pk)
    wait_until(lambda: not ScratchOrg.objects.filter(pk=row.pk).exists(), timeout=60,
               message="the deletion")
    assert org["org_id"] not in site.fake.orgs
    assert not site.fake.active_scratch_orgs
    assert events.types("scratchorg", body["id"])[-1] == "SCRATCH_ORG_DELETED"
    assert stored_rows_with(site.fake.all_tokens()) == []


def test_an_expired_org_is_deleted_on_both_sides(site):
    plan = scratch_plan()
    Plan.objects.filter(pk=plan.pk).update(supported_orgs=SupportedOrgs.SCRATCH)
    browser = Browser(site.base_url, plan)
    body = browser.create()
    org = browser.wait_created()
    assert org["status"] == "complete"
    wait_until(lambda: Job.objects.filter(org_id=org["org_id"]).exclude(status="started")
               .exists(), timeout=90, message="the installation to end")
    ScratchOrg.objects.filter(uuid=body["uuid"]).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    wait_until(lambda: not ScratchOrg.objects.filter(uuid=body["uuid"]).exists(), timeout=30,
               message="expire_scratch_orgs to delete the org")
    assert org["org_id"] not in site.fake.orgs


@pytest.mark.parametrize("outcome, message", [
    (ScratchPlan(outcome="Error", error_code="SH-0001"), "Scratch org creation failed: SH-0001"),
    (ScratchPlan(outcome="never"), "Scratch org creation failed: Org creation timed out"),
])
def test_a_failed_or_timed_out_creation_leaves_nothing(site, events, outcome, message):
    site.fake.scratch_plan = outcome
    before = set(site.fake.orgs)
    browser = Browser(site.base_url, scratch_plan())
    body = browser.create()
    wait_until(lambda: not ScratchOrg.objects.filter(uuid=body["uuid"]).exists(), timeout=60,
               message="the failed org to be removed")
    error = next(e for e in events.collect()
                 if e["type"] == "SCRATCH_ORG_ERROR" and e["id"] == body["id"])
    assert error["message"] == message
    assert set(site.fake.orgs) == before
    assert not site.fake.active_scratch_orgs
    assert not [r for r in site.fake.scratch_requests.values() if r["Status"] != "Active"]
