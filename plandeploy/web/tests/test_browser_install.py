"""In Chromium: sign in, connect a local org, preflight, untick a step, install, watch it live."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from plandeploy.runs.models import Job, Status
from plandeploy.web import lookups
from plandeploy.web.tests.browser import LIVE_TIMEOUT_MS, check_page, make_user, sign_in
from plandeploy.web.tests.catalog_rows import sample_plan

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_connect_preflight_install_and_watch_steps_turn_ok(new_page):
    plan = sample_plan()
    user, password = make_user()
    page = new_page()
    page.goto("/")
    check_page(page, "home")
    page.goto("/accounts/login/")
    check_page(page, "sign-in")
    sign_in(page, user, password)
    page.get_by_role("button", name="Connect a local org").click()
    expect(page.get_by_text("Connected to")).to_be_visible()

    page.get_by_role("main").get_by_role("link", name=re.compile("Sample")).click()
    check_page(page, "product")
    page.get_by_role("main").get_by_role("link", name="Install", exact=True).click()
    expect(page.get_by_role("button", name="Install", exact=True)).to_be_disabled()
    expect(page.get_by_text("Run the preflight checks first")).to_be_visible()

    page.get_by_role("button", name="Run the preflight checks").click()
    # The page follows the preflight and shows its result when it ends.
    expect(page.get_by_text("The preflight checks passed.")).to_be_visible(
        timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_text("Valid until")).to_be_visible()
    check_page(page, "plan")

    optional = page.get_by_label("Load sample data")
    expect(optional).to_be_checked()
    optional.uncheck()
    page.get_by_label(re.compile("I have read and accept")).check()
    install = page.get_by_role("button", name="Install", exact=True)
    expect(install).to_be_enabled()
    install.click()

    expect(page).to_have_url(re.compile(r"/jobs/[A-Za-z0-9]+/$"))
    job_url = page.url
    page.evaluate("window.__sameDocument = true")
    steps = page.locator("li.job-step")
    expect(steps).to_have_count(4)
    expect(page.locator("#job-status")).to_have_text("complete", timeout=LIVE_TIMEOUT_MS)
    for name in ("Install the core component", "Configure settings",
                 "Announce the installation"):
        expect(steps.filter(has_text=name).locator("[data-role=state]")).to_have_text("ok")
    expect(steps.filter(has_text="Load sample data").locator("[data-role=state]")).to_have_text(
        "skipped")
    expect(page.locator("#job-final-complete")).to_contain_text("All done.")
    # Still the document the install opened: the steps turned ok without a reload.
    assert page.evaluate("window.__sameDocument") is True
    check_page(page, "job")

    job = Job.objects.get(user=user)
    assert job.status == Status.COMPLETE
    assert job_url.endswith(lookups.plan_url(plan, "job", job=job.hashid))
    page.get_by_role("link", name="My installations").click()
    row = page.locator(f"tr[data-job-id='{job.hashid}']")
    expect(row).to_contain_text("complete")
    expect(row).to_contain_text("Install")
    check_page(page, "my-installations")
    row.get_by_role("link").click()
    expect(page).to_have_url(job_url)


def test_without_javascript_forms_post_and_pages_refresh_to_the_final_state(new_page):
    sample_plan()
    user, password = make_user()
    page = new_page(java_script_enabled=False)
    sign_in(page, user, password)
    page.get_by_role("button", name="Connect a local org").click()
    page.get_by_role("main").get_by_role("link", name=re.compile("Sample")).click()
    page.get_by_role("main").get_by_role("link", name="Install", exact=True).click()
    page.get_by_role("button", name="Run the preflight checks").click()
    expect(page.get_by_text("The preflight checks passed.")).to_be_visible(
        timeout=LIVE_TIMEOUT_MS)
    page.get_by_label(re.compile("I have read and accept")).check()
    page.get_by_role("button", name="Install", exact=True).click()
    expect(page.locator("#job-status")).to_have_text("complete", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("li.job-step [data-role=state]")).to_have_text(["ok"] * 4)
