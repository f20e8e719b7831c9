"""In Chromium: an anonymous visitor requests a scratch org and follows it to an installation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from plandeploy.catalog.models import SupportedOrgs
from plandeploy.runs import scratch_org_removal
from plandeploy.runs.models import Job, ScratchOrg, Status
from plandeploy.web import lookups
from plandeploy.web.tests.browser import LIVE_TIMEOUT_MS, check_page
from plandeploy.web.tests.catalog_rows import sample_plan

pytestmark = pytest.mark.django_db(transaction=True)


def test_anonymous_scratch_org_from_request_to_completed_install(new_page):
    plan = sample_plan(supported_orgs=SupportedOrgs.SCRATCH)
    page = new_page()
    page.goto(lookups.plan_url(plan))
    check_page(page, "plan-scratch-form")
    page.get_by_label("Your e-mail address").fill("visitor@example.com")
    page.get_by_role("button", name="Create scratch org").click()
    try:
        # The page follows the creation, then the org's own preflight, and shows both.
        expect(page.get_by_text("expires on")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(page.get_by_text("The preflight checks passed.")).to_be_visible(
            timeout=LIVE_TIMEOUT_MS)
        check_page(page, "plan-scratch-org")
        page.get_by_label(re.compile("I have read and accept")).check()
        page.get_by_role("button", name="Install", exact=True).click()
        expect(page).to_have_url(re.compile(r"/jobs/[A-Za-z0-9]+/$"))
        expect(page.locator("#job-status")).to_have_text("complete", timeout=LIVE_TIMEOUT_MS)
        scratch_org = ScratchOrg.objects.get(plan=plan)
        # The visitor's own session sees its org; the job belongs to no user.
        expect(page.locator("#job-org")).to_contain_text(scratch_org.org_id)
        job = Job.objects.get(plan=plan)
        assert job.user is None and job.status == Status.COMPLETE
        check_page(page, "job-scratch-org")
    finally:
        for org in ScratchOrg.objects.filter(plan=plan):
            scratch_org_removal.delete(org.pk)


def test_a_plan_of_required_steps_installs_itself_and_the_page_follows_to_its_job(new_page):
    plan = sample_plan(supported_orgs=SupportedOrgs.SCRATCH)
    plan.steps.update(is_required=True)
    page = new_page()
    page.goto(lookups.plan_url(plan))
    page.get_by_label("Your e-mail address").fill("visitor@example.com")
    page.get_by_role("button", name="Create scratch org").click()
    try:
        # The page opens the job once it runs, or links to it if it ran between two looks.
        job_link = page.get_by_role("link", name="View its installation")
        expect(page.locator("#job-status").or_(job_link)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        if job_link.is_visible():
            job_link.click()
        expect(page).to_have_url(re.compile(r"/jobs/[A-Za-z0-9]+/$"))
        expect(page.locator("#job-status")).to_have_text("complete", timeout=LIVE_TIMEOUT_MS)
        assert Job.objects.get(plan=plan).user is None
    finally:
        for org in ScratchOrg.objects.filter(plan=plan):
            scratch_org_removal.delete(org.pk)
