"""Rate limits on every public write, per user and per client address, and the proxy rule."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from plandeploy.accounts.models import OrgConnection
from plandeploy.api.tests.helpers import complete_preflight
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg
from plandeploy.security.models import RateCounter
from plandeploy.web import lookups
from plandeploy.web.tests.catalog_rows import sample_plan

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def room_in_the_queue(settings):
    # Queue rows other tests committed must not make a scratch-org request a 503 here.
    settings.MAX_QUEUE_LENGTH = 10**6


@pytest.fixture
def limit(settings):
    def set_limit(scope: str, rate: str) -> None:
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, scope: rate}

    return set_limit


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) >= 1
    assert response.json()["detail"].startswith("Request was throttled.")


def assert_throttled_page(response) -> None:
    """A page form over its limit gets a page to read, not the API's JSON."""
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) >= 1
    assert response["Content-Type"].startswith("text/html")
    assert "Too many requests" in response.content.decode()


def signed_in(user, address: str = "127.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.force_authenticate(user)
    return client


def test_job_posts_are_limited_per_user_across_addresses(limit):
    limit("job", "2/h")
    user = factories.user()
    plan = factories.plan(steps=1)
    complete_preflight(plan, user.org_id, user)
    body = {"plan": plan.hashid, "steps": [plan.steps.get().hashid]}
    codes = []
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        codes.append(signed_in(user, address).post("/api/jobs/", body, format="json"))
    # The first made a job, the second met the pending job (400): both counted.
    assert [r.status_code for r in codes[:2]] == [201, 400]
    assert_throttled(codes[2])
    assert Job.objects.count() == 1


def test_preflight_posts_are_limited_per_address_across_users_and_reads_are_free(limit):
    limit("preflight", "2/h")
    plan = factories.plan(steps=1)
    url = f"/api/plans/{plan.hashid}/preflight/"
    first, second, third = (factories.user() for _ in range(3))
    assert signed_in(first).post(url).status_code == 201
    assert signed_in(second).post(url).status_code == 201
    assert_throttled(signed_in(third).post(url))
    assert signed_in(third).get(url).status_code == 404  # reads are not counted
    assert signed_in(third, "10.9.9.9").post(url).status_code == 201
    assert PreflightResult.objects.count() == 3


def test_anonymous_scratch_org_requests_are_limited_per_address(limit):
    limit("scratch_org", "1/d")
    plan = factories.plan(supported_orgs="Scratch")
    url = f"/api/plans/{plan.hashid}/scratch_org/"
    body = {"email": "a@example.com"}
    assert APIClient().post(url, body, format="json").status_code == 202
    response = APIClient().post(url, body, format="json")  # a new session: same address
    assert_throttled(response)
    assert int(response["Retry-After"]) > 3600
    assert ScratchOrg.objects.count() == 1


def test_org_connect_is_limited(limit):
    limit("org_connect", "1/m")
    user = factories.user(connected=False)
    assert signed_in(user).post("/api/orgs/connect/", {}, format="json").status_code == 201
    assert_throttled(signed_in(user).post("/api/orgs/connect/", {}, format="json"))
    assert OrgConnection.objects.filter(user=user).count() == 1


def test_sign_in_is_limited_per_address_and_per_account(limit):
    limit("sign_in", "2/m")
    user = factories.user()
    wrong = {"username": user.username, "password": "guess"}
    for _ in range(2):
        assert Client(REMOTE_ADDR="10.0.0.1").post("/accounts/login/", wrong).status_code == 200
    assert_throttled_page(Client(REMOTE_ADDR="10.0.0.1").post(
        "/accounts/login/", {"username": "other", "password": "x"}))
    # Another address guessing the same account's password is refused too.
    assert_throttled_page(Client(REMOTE_ADDR="10.0.0.2").post("/accounts/login/", wrong))
    assert Client(REMOTE_ADDR="10.0.0.3").get("/accounts/login/").status_code == 200


def test_counts_live_in_the_shared_table(limit):
    limit("org_connect", "5/m")
    user = factories.user(connected=False)
    signed_in(user, "10.0.0.7").post("/api/orgs/connect/", {}, format="json")
    counts = dict(RateCounter.objects.values_list("key", "count"))
    assert counts == {"org_connect:address:10.0.0.7": 1, f"org_connect:user:{user.pk}": 1}


def test_forwarded_for_is_believed_only_from_trusted_proxies(limit, settings):
    import ipaddress

    limit("scratch_org", "1/h")
    plan = factories.plan(supported_orgs="Scratch")
    url = f"/api/plans/{plan.hashid}/scratch_org/"
    body = {"email": "a@example.com"}

    def post(remote: str, forwarded: str):
        return APIClient(REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded).post(
            url, body, format="json")

    # A client naming a fresh address per request gains nothing.
    assert post("10.0.0.1", "1.1.1.1").status_code == 202
    assert_throttled(post("10.0.0.1", "2.2.2.2"))
    # Behind a trusted proxy the client is the right-most address that is not a proxy.
    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert post("10.0.0.1", "6.6.6.6, 3.3.3.3, 10.0.0.2").status_code == 202
    assert_throttled(post("10.0.0.9", "7.7.7.7, 3.3.3.3"))
    assert set(RateCounter.objects.values_list("key", flat=True)) == {
        "scratch_org:address:10.0.0.1", "scratch_org:address:3.3.3.3"}


def browser(user=None, address: str = "127.0.0.1") -> Client:
    client = Client(REMOTE_ADDR=address)
    if user is not None:
        client.force_login(user)
    return client


def test_the_preflight_form_and_its_api_share_one_budget(limit):
    limit("preflight", "2/h")
    plan = sample_plan()
    user = factories.user()
    assert signed_in(user).post(f"/api/plans/{plan.hashid}/preflight/").status_code == 201
    form = lookups.plan_url(plan, "preflight")
    assert browser(user).post(form).status_code == 302  # counted, whatever it answered
    assert_throttled_page(browser(user).post(form))
    assert_throttled(signed_in(user).post(f"/api/plans/{plan.hashid}/preflight/"))


def test_the_install_form_is_limited_per_user_across_addresses(limit):
    limit("job", "1/h")
    plan = sample_plan()
    user = factories.user()
    complete_preflight(plan, user.org_id, user)
    form = lookups.plan_url(plan, "install")
    steps = [step.hashid for step in plan.steps.all()]
    first = browser(user, "10.0.0.1").post(form, {"steps": steps, "accept": "yes"})
    assert first.status_code == 302 and Job.objects.count() == 1
    Job.objects.update(status="canceled")  # the org is free again: only the limit refuses
    assert_throttled_page(browser(user, "10.0.0.2").post(form, {"steps": steps,
                                                                "accept": "yes"}))
    assert Job.objects.count() == 1


def test_the_scratch_org_form_is_limited_per_address(limit):
    limit("scratch_org", "1/d")
    plan = sample_plan(supported_orgs="Scratch")
    form = lookups.plan_url(plan, "scratch_org")
    assert browser().post(form, {"email": "a@example.com"}).status_code == 302
    response = browser().post(form, {"email": "b@example.com"})  # a new session
    assert_throttled_page(response)
    assert int(response["Retry-After"]) > 3600
    assert ScratchOrg.objects.count() == 1


def test_the_org_connect_form_is_limited(limit):
    limit("org_connect", "1/m")
    user = factories.user(connected=False)
    assert browser(user).post("/org/connect/", {"next": "/"}).status_code == 302
    assert_throttled_page(browser(user).post("/org/connect/", {"next": "/"}))
    assert OrgConnection.objects.filter(user=user).count() == 1
