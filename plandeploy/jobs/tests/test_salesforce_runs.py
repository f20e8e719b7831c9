"""Plan runs and preflights against a user's Salesforce org, through the real web server,
queue and worker, against the Salesforce fake: the worker renews the token through the
connected app, the sample product's task writes and reads a record with CumulusCI's `sf`
client; a refused refresh ends the run asking to sign in again; expiry by cleanup_user_data
then a new sign-in. No token reaches a stored row."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
import pytest
from allauth.socialaccount.models import SocialAccount
from django.db import connection
from django.utils import timezone

from plandeploy.accounts.models import OrgConnection, User
from plandeploy.accounts.tests.salesforce_support import SalesforceSite, sign_in, start_site
from plandeploy.accounts.tokens import issue_token
from plandeploy.bootstrap import SAMPLE_PRODUCT
from plandeploy.runs.execution.spec import SIGN_IN_AGAIN
from plandeploy.runs.models import Job
from plandeploy.runs.tests.factories import EventListener, clear_queue, publish_plan
from plandeploy.testing.processes import (
    FAST_WORKER_TIMINGS,
    only_schedule,
    wait_until,
    web_process,
    worker_process,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, tmp_path_factory):
    site = start_site()
    # The worker's own log (INFO: every run's lines), read for tokens after each test.
    site.worker_log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(site.worker_log, "w") as output, django_db_blocker.unblock(), \
            web_process(port=site.port, **site.env()), \
            worker_process(concurrency=2, output=output,
                           # cleanup_user_data every 2 s: the expiry test waits for a tick.
                           **site.env(LOG_LEVEL="INFO",
                                      CRON_SCHEDULE=only_schedule("cleanup_user_data"),
                                      **FAST_WORKER_TIMINGS)):
        yield site
    site.fake.close()


@pytest.fixture(autouse=True)
def no_token_logged(site):
    yield
    text = site.worker_log.read_text()
    assert text.strip(), "the worker logged nothing: the check would prove nothing"
    leaked = [token[:12] for token in site.fake.all_tokens() if token in text]
    assert not leaked, f"tokens in the worker's log: {leaked}"


@pytest.fixture(autouse=True)
def empty_queue():
    clear_queue()


@pytest.fixture
def events():
    listener = EventListener()
    yield listener
    listener.close()


def salesforce_plan():
    data = json.loads((SAMPLE_PRODUCT / "plan.json").read_text())
    plan_data = next(p for p in data["plans"] if p["slug"] == "salesforce-record")
    return publish_plan(steps=plan_data["steps"], preflight_checks=[])


class SignedIn:
    """A person who signed in with Salesforce (production) in a browser session, and an API
    token of theirs for the calls."""

    def __init__(self, site: SalesforceSite) -> None:
        self.site = site
        self.browser = httpx.Client(base_url=site.base_url, timeout=30)
        done = sign_in(site, self.browser, "production")
        assert done.status_code == 302, done.text
        self.org = site.orgs["production"]
        self.user = User.objects.get(org_connection__org_id=self.org.org_id)
        self.api = httpx.Client(base_url=site.base_url, timeout=30,
                                headers={"Authorization": f"Token {issue_token(self.user)}"})

    def start_job(self, plan) -> str:
        response = self.api.post("/api/jobs/", json={
            "plan": plan.hashid, "steps": [s.hashid for s in plan.steps.all()],
        })
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def wait_job(self, job_id: str, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.api.get(f"/api/jobs/{job_id}/").json()
            if job["status"] != "started":
                return job
            time.sleep(0.2)
        raise TimeoutError(f"job {job_id} still started")


def stored_rows_with(tokens: list[str]) -> list[str]:
    """Tables with a row whose text holds any of `tokens` (encrypted columns never match)."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        patterns = [f"%{token}%" for token in tokens]
        for table in tables:
            cursor.execute(f'SELECT 1 FROM "{table}" AS t WHERE t::text LIKE ANY(%s) LIMIT 1',
                           [patterns])
            if cursor.fetchone():
                found.append(table)
    return found


def test_a_plan_run_writes_and_reads_a_record_in_the_users_org(site):
    person = SignedIn(site)
    plan = salesforce_plan()
    records_before = len(site.fake.records(person.org, "Account"))
    refreshes_before = [r for r in site.fake.requests if r[2] == "/services/oauth2/token"]
    # A preflight first: the same token path, no checks to run.
    preflight = person.api.post(f"/api/plans/{plan.hashid}/preflight/")
    assert preflight.status_code == 201, preflight.text
    deadline = time.monotonic() + 60
    while person.api.get(f"/api/plans/{plan.hashid}/preflight/").json()["status"] == "started":
        assert time.monotonic() < deadline, "preflight still started"
        time.sleep(0.2)
    assert person.api.get(f"/api/plans/{plan.hashid}/preflight/").json()["status"] == "complete"

    job = person.wait_job(person.start_job(plan))
    assert job["status"] == "complete", json.dumps(job, indent=1)
    names = [r["Name"] for r in site.fake.records(person.org, "Account")[records_before:]]
    assert names == ["plandeploy sample record"]
    ((step_result,),) = job["results"].values()
    assert step_result["status"] == "ok"
    assert "read it back: plandeploy sample record" in step_result["logs"]
    # Each run renewed the token at the org's instance (CumulusCI's OAuth client).
    refreshes = [r for r in site.fake.requests if r[2] == "/services/oauth2/token"]
    assert len(refreshes) - len(refreshes_before) >= 2
    assert refreshes[-1][0] == person.org.instance_url
    connection_row = OrgConnection.objects.get(user=person.user)
    assert connection_row.access_token in site.fake.access_tokens
    assert stored_rows_with(site.fake.all_tokens()) == []


def test_a_refused_refresh_fails_the_run_and_asks_to_sign_in_again(site, events):
    person = SignedIn(site)
    plan = salesforce_plan()
    records_before = len(site.fake.records(person.org, "Account"))
    site.fake.revoke(OrgConnection.objects.get(user=person.user).refresh_token)
    job = person.wait_job(person.start_job(plan))
    assert job["status"] == "failed"
    assert Job.objects.get(pk=Job.pk_from_hashid(job["id"])).exception == SIGN_IN_AGAIN
    assert "USER_TOKEN_INVALID" in events.types("user", person.user.hashid)
    connection_row = OrgConnection.objects.get(user=person.user)
    assert connection_row.access_token is None and connection_row.refresh_token is None
    assert person.api.get("/api/user/").json()["valid_token_for"] is None
    assert len(site.fake.records(person.org, "Account")) == records_before
    # Until the person signs in again, no new run is accepted ...
    refused = person.api.post("/api/jobs/", json={
        "plan": plan.hashid, "steps": [s.hashid for s in plan.steps.all()]})
    assert refused.status_code == 400
    assert "log in again" in refused.text
    # ... and after it, the org is theirs again.
    again = sign_in(site, person.browser, "production")
    assert again.status_code == 302
    assert person.api.get("/api/user/").json()["valid_token_for"] == person.org.org_id
    assert person.wait_job(person.start_job(plan))["status"] == "complete"
    assert stored_rows_with(site.fake.all_tokens()) == []


def test_cleanup_user_data_expires_the_token_then_a_new_sign_in_restores_it(site, events):
    person = SignedIn(site)
    assert SocialAccount.objects.get(user=person.user).extra_data
    # Signed in TOKEN_LIFETIME_MINUTES (10) and a minute ago: the worker's next
    # cleanup_user_data tick expires it.
    OrgConnection.objects.filter(user=person.user).update(
        token_created_at=timezone.now() - timedelta(minutes=11))
    wait_until(lambda: not OrgConnection.objects.filter(user=person.user).exists(),
               timeout=30, message="cleanup_user_data to expire the token")
    wait_until(lambda: "USER_TOKEN_INVALID" in events.types("user", person.user.hashid),
               timeout=10, message="USER_TOKEN_INVALID")
    # The org details went with the token, and so did allauth's copy of the user info.
    assert not OrgConnection.objects.filter(user=person.user).exists()
    assert SocialAccount.objects.get(user=person.user).extra_data == {}
    user = person.api.get("/api/user/").json()
    assert user["valid_token_for"] is None and user["org_name"] is None
    again = sign_in(site, person.browser, "production")
    assert again.status_code == 302
    user = person.api.get("/api/user/").json()
    assert user["valid_token_for"] == person.org.org_id
    assert user["org_name"] == person.org.name
