"""In Chromium: a failing step, a cancel during a long step, sharing a job and who may see it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from plandeploy.accounts.services import connect_local_org
from plandeploy.runs.models import Job
from plandeploy.web import lookups
from plandeploy.web.tests.browser import LIVE_TIMEOUT_MS, check_page, make_user, sign_in
from plandeploy.web.tests.catalog_rows import sample_plan, wait_steps

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in_page(new_page):
    user, password = make_user()
    connect_local_org(user, "Acme test org")
    page = new_page()
    sign_in(page, user, password)
    return user, page


def install(page, plan) -> str:
    page.goto(lookups.plan_url(plan))
    page.get_by_label(re.compile("I have read and accept")).check()
    page.get_by_role("button", name="Install", exact=True).click()
    expect(page).to_have_url(re.compile(r"/jobs/[A-Za-z0-9]+/$"))
    return page.url


def test_failing_step_shows_its_error_and_the_plans_error_message(new_page):
    plan = sample_plan(steps=wait_steps(0, fail_second=True))
    _user, page = signed_in_page(new_page)
    install(page, plan)
    expect(page.locator("#job-status")).to_have_text("failed", timeout=LIVE_TIMEOUT_MS)
    failed = page.locator("li.job-step").filter(has_text="Step 2")
    expect(failed.locator("[data-role=state]")).to_have_text("error")
    expect(failed.locator("[data-role=message]")).to_contain_text("failed as requested")
    expect(page.locator("#job-final-failed")).to_contain_text(
        "Contact support about this failure.")
    check_page(page, "job-failed")


def test_cancel_during_a_long_step_ends_canceled_on_the_page(new_page):
    plan = sample_plan(steps=wait_steps(120))
    _user, page = signed_in_page(new_page)
    install(page, plan)
    first = page.locator("li.job-step").filter(has_text="Step 1")
    expect(first.locator("[data-role=state]")).to_have_text("running", timeout=LIVE_TIMEOUT_MS)
    page.get_by_role("button", name="Cancel installation").click()
    expect(page.locator("#job-status")).to_have_text("canceled", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#job-final-canceled")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel installation")).to_have_count(0)


def test_shared_job_is_masked_for_anonymous_and_a_private_one_is_404_for_others(new_page):
    plan = sample_plan(steps=wait_steps(0))
    owner, page = signed_in_page(new_page)
    job_url = install(page, plan)
    expect(page.locator("#job-status")).to_have_text("complete", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#job-org")).to_contain_text("Acme test org")

    _other, other_page = signed_in_page(new_page)
    response = other_page.goto(job_url)
    assert response.status == 404
    expect(other_page.get_by_role("heading", name="Page not found")).to_be_visible()
    check_page(other_page, "not-found")

    page.get_by_role("button", name="Share publicly").click()
    expect(page.get_by_role("button", name="Make private")).to_be_visible()
    assert Job.objects.get(user=owner).is_public

    anonymous = new_page()
    response = anonymous.goto(job_url)
    assert response.status == 200
    expect(anonymous.locator("#job-status")).to_have_text("complete")
    expect(anonymous.locator("#job-org")).to_have_text("hidden")
    expect(anonymous.locator("#job-creator")).to_have_text("hidden")
    expect(anonymous.get_by_text("Acme test org")).to_have_count(0)
    expect(anonymous.get_by_role("button", name="Make private")).to_have_count(0)
    check_page(anonymous, "job-public")
