"""In Chromium: subscribe, re-subscribe after a drop, read on events, follow the user's events.

The real /ws/notifications/ server has tests of its own; here Playwright mostly plays the
server so that the page's side of the protocol is checked whatever the socket does; the
token-expiry test goes through the real socket end to end.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from plandeploy.accounts.services import connect_local_org
from plandeploy.maintenance.users import expire_org_tokens
from plandeploy.runs.models import Job, Status
from plandeploy.testing.processes import wait_until
from plandeploy.web import lookups
from plandeploy.web.tests.browser import LIVE_TIMEOUT_MS, make_user, sign_in
from plandeploy.web.tests.catalog_rows import sample_plan, wait_steps

pytestmark = pytest.mark.django_db(transaction=True)


class StandInSocket:
    """Answers every subscription with `ok` and records it; the test drops and talks."""

    def __init__(self) -> None:
        self.subscriptions: list[dict] = []
        self.sockets: list = []

    def __call__(self, socket) -> None:
        self.sockets.append(socket)

        def on_message(text) -> None:
            request = json.loads(text)
            self.subscriptions.append(request)
            reply = f"Subscribed to {request['model']}.id = {request['id']}"
            socket.send(json.dumps({"ok": reply}))

        socket.on_message(on_message)

    def job_subscriptions(self, job_id: str) -> int:
        return sum(1 for s in self.subscriptions if s == {"model": "job", "id": job_id})


def test_page_resubscribes_after_a_drop_and_reads_the_job_when_told(new_page):
    plan = sample_plan(steps=wait_steps(2))
    user, password = make_user()
    connect_local_org(user, None)
    page = new_page()
    socket = StandInSocket()
    page.context.route_web_socket(re.compile(r".*/ws/notifications/$"), socket)
    sign_in(page, user, password)
    page.goto(lookups.plan_url(plan))
    page.get_by_label(re.compile("I have read and accept")).check()
    page.get_by_role("button", name="Install", exact=True).click()
    expect(page).to_have_url(re.compile(r"/jobs/[A-Za-z0-9]+/$"))
    job = Job.objects.get(user=user)
    _wait_in_page(page, lambda: socket.job_subscriptions(job.hashid) >= 1)
    assert {"model": "user", "id": user.hashid} in socket.subscriptions
    socket.sockets[-1].close()
    # Dropped: the page polls meanwhile and subscribes again on a new socket.
    _wait_in_page(page, lambda: socket.job_subscriptions(job.hashid) >= 2)

    wait_until(lambda: Job.objects.get(pk=job.pk).status == Status.COMPLETE,
               timeout=LIVE_TIMEOUT_MS / 1000, message="the job to complete")
    # Subscribed again, polling stopped: an event with no usable payload makes it read the API.
    socket.sockets[-1].send(json.dumps({"type": "JOB_COMPLETED", "payload": {"id": job.hashid}}))
    expect(page.locator("#job-status")).to_have_text("complete")

    socket.sockets[-1].send(json.dumps({"type": "BACKEND_ERROR",
                                        "payload": {"message": "There was an error"}}))
    expect(page.locator("#backend-error-banner")).to_be_visible()


def _wait_in_page(page, condition, timeout_ms: int = LIVE_TIMEOUT_MS) -> None:
    """Wait for `condition`, letting Playwright dispatch the socket's callbacks meanwhile."""
    waited = 0
    while not condition():
        assert waited < timeout_ms, "timed out waiting in the page"
        page.wait_for_timeout(100)
        waited += 100


def test_an_expired_token_turns_any_open_page_to_the_lost_connection_banner(new_page):
    """Through the real socket: the token expiry job's USER_TOKEN_INVALID reaches the page."""
    sample_plan()
    user, password = make_user()
    connect_local_org(user, None)
    page = new_page()
    sign_in(page, user, password)
    page.get_by_role("link", name="My installations").click()
    banner = page.get_by_text("The connection to your org has been lost.")
    expect(banner).to_have_count(0)
    page.wait_for_function("() => window.plandeployLive && window.plandeployLive.subscribed")
    later = timezone.now() + timedelta(minutes=settings.TOKEN_LIFETIME_MINUTES + 1)
    assert user.pk in expire_org_tokens(later)
    expect(banner).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Reconnect org")).to_be_visible()


def test_a_token_expired_while_the_socket_was_down_shows_after_the_reconnect(new_page):
    sample_plan()
    user, password = make_user()
    connect_local_org(user, None)
    page = new_page()
    socket = StandInSocket()
    page.context.route_web_socket(re.compile(r".*/ws/notifications/$"), socket)
    sign_in(page, user, password)
    page.get_by_role("link", name="My installations").click()
    banner = page.get_by_text("The connection to your org has been lost.")
    _wait_in_page(page, lambda: socket.sockets and page.evaluate(
        "() => !!(window.plandeployLive && window.plandeployLive.subscribed)"))
    expect(banner).to_have_count(0)
    socket.sockets[-1].close()
    # Meanwhile the token expires; the stand-in socket never says so.
    later = timezone.now() + timedelta(minutes=settings.TOKEN_LIFETIME_MINUTES + 1)
    assert user.pk in expire_org_tokens(later)
    expect(banner).to_be_visible(timeout=LIVE_TIMEOUT_MS)
