"""The pages' details through Django's test client: the site profile, warnings to accept, the
install reasons, the job page's times, log and controls for whoever may change the job."""

from __future__ import annotations

import pytest
from django.test import Client

from plandeploy.api.tests.helpers import complete_preflight
from plandeploy.catalog.models import ProductSlug, SiteProfile, Version
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job, Status
from plandeploy.runs.tests.factories import local_user
from plandeploy.web import lookups
from plandeploy.web.tests.catalog_rows import sample_plan

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_site_profile_names_and_frames_every_page():
    plan = sample_plan()
    SiteProfile.objects.create(
        name="Acme Installer", company_name="Acme Corp", copyright_notice="© 2026 Acme Corp",
        product_logo="https://example.com/logo.png")
    for url in ("/", lookups.plan_url(plan), "/no-such-page/"):
        page = text(Client().get(url))
        assert "<title>" in page and "· Acme Installer</title>" in page
        assert '<img src="https://example.com/logo.png" alt="" class="brand-logo">' in page
        footer = page[page.index('<footer class="site-footer">'):]
        assert "© 2026 Acme Corp" in footer and "Acme Corp" in footer


def test_the_preflights_warnings_must_be_accepted_before_installing():
    plan = sample_plan(steps=[])
    product = plan.version.product
    product.click_through_agreement = ""
    product.save()
    user = local_user()
    client = signed_in(user)
    url = lookups.plan_url(plan)
    complete_preflight(plan, user.org_id, user)
    assert 'name="accept"' not in text(client.get(url))
    complete_preflight(plan, user.org_id, user, results={
        "plan": [{"status": "warn", "message": "Back up your org first."}]})
    page = text(client.get(url))
    assert '<li class="message message-warn">Back up your org first.</li>' in page
    assert "I have read the warnings above and install anyway." in page
    refused = client.post(lookups.plan_url(plan, "install"), {"steps": []})
    assert not Job.objects.filter(user=user).exists()
    assert "Please confirm that you install despite the warnings." in text(
        client.get(refused["Location"]))
    accepted = client.post(lookups.plan_url(plan, "install"), {"steps": [], "accept": "yes"})
    job = Job.objects.get(user=user)
    assert accepted["Location"] == lookups.plan_url(plan, "job", job=job.hashid)


def test_install_stays_closed_while_the_org_connection_is_lost():
    plan = sample_plan()
    user = factories.user(token=False)
    complete_preflight(plan, user.org_id, user)
    page = text(signed_in(user).get(lookups.plan_url(plan)))
    assert 'id="install" disabled' in page
    assert "The connection to your org has been lost. Please log in again." in page


def test_job_page_shows_elapsed_time_next_to_the_plans_average():
    plan = sample_plan()
    plan.calculated_average_duration = 42
    plan.save()
    user = local_user()
    job = Job.objects.create(user=user, plan=plan, org_id=user.org_id)
    page = text(signed_in(user).get(lookups.plan_url(plan, "job", job=job.hashid)))
    assert 'Elapsed: <span id="job-elapsed">' in page
    assert "Average: 42 s" in page


def test_a_steps_log_is_folded_away_until_asked_for_and_escaped_once():
    plan = sample_plan()
    user = local_user()
    step = plan.steps.first()
    job = Job.objects.create(user=user, plan=plan, org_id=user.org_id, status=Status.COMPLETE,
                             results={step.hashid: [{"status": "ok",
                                                     "logs": "Set x = &lt;b&gt;"}]})
    job.steps.set(plan.steps.all())
    page = text(signed_in(user).get(lookups.plan_url(plan, "job", job=job.hashid)))
    assert '<details data-role="log-box">' in page  # closed: no `open` attribute
    assert '<pre data-role="log">Set x = &lt;b&gt;</pre>' in page


def test_cancel_and_share_are_offered_only_to_whoever_may_change_the_job():
    plan = sample_plan()
    owner, other = local_user(), local_user()
    job = Job.objects.create(user=owner, plan=plan, org_id=owner.org_id, is_public=True)
    url = lookups.plan_url(plan, "job", job=job.hashid)
    mine = text(signed_in(owner).get(url))
    assert 'id="cancel-job"' in mine and 'id="share-toggle"' in mine
    for viewer in (signed_in(other), Client()):
        page = viewer.get(url)
        assert page.status_code == 200
        assert 'id="cancel-job"' not in text(page) and 'id="share-toggle"' not in text(page)
        assert viewer.post(lookups.plan_url(plan, "job_cancel", job=job.hashid)).status_code \
            == 404
    # Still started: a cancel of a run no worker has picked up would have ended it at once.
    assert Job.objects.get(pk=job.pk).status == Status.STARTED
    superuser = factories.user(superuser=True)
    assert 'id="cancel-job"' in text(signed_in(superuser).get(url))


def test_plan_page_lists_the_steps_in_order_with_kind_requirement_and_description():
    plan = sample_plan()
    plan.calculated_average_duration = 75
    plan.save()
    steps = list(plan.steps.all())
    for step in steps:
        step.description = f"What step {step.step_num} does."
        step.save()
    page = text(Client().get(lookups.plan_url(plan)))
    positions = [page.index(f'data-step-id="{step.hashid}"') for step in steps]
    assert positions == sorted(positions)
    for step, start in zip(steps, positions, strict=True):
        row = page[start:page.index("</tr>", start)]
        requirement = ("required" if step.is_required
                       else "recommended" if step.is_recommended else "optional")
        assert f'class="step step-{requirement}' in row and f"badge-{requirement}" in row
        assert f"<td>{step.get_kind_display()}</td>" in row
        assert f'<div class="step-description">{step.description}</div>' in row
    assert {step.is_required for step in steps} == {True, False}  # both kinds were shown
    assert "Installations of this plan take 75 seconds on average." in page


def test_product_page_lists_primary_then_secondary_then_additional_plans():
    version = factories.version(factories.product(title="Tiered"))
    ProductSlug.objects.create(parent=version.product, slug="tiered")
    for title, tier in (("Extra", "additional"), ("Second", "secondary"), ("Main", "primary")):
        factories.plan(version, title=title, tier=tier)
    page = text(Client().get("/products/tiered/"))
    assert page.index(">Main<") < page.index(">Second<") < page.index(">Extra<")


def test_unlisted_versions_and_plans_stay_reachable_by_their_links():
    plan = sample_plan()
    product = plan.version.product
    hidden_version = Version.objects.create(product=product, label="0.9-beta", commit_ish="",
                                            is_listed=False)
    hidden_plan = factories.plan(hidden_version, title="Beta install", slug="beta",
                                 is_listed=False)
    listed = text(Client().get(f"/products/{product.slug}/"))
    assert "0.9-beta" not in listed and "Beta install" not in listed
    version_page = Client().get(f"/products/{product.slug}/0.9-beta/")
    assert version_page.status_code == 200 and "This is an old version" in text(version_page)
    unlisted_plan = factories.plan(plan.version, title="Hidden extra", slug="hidden-extra",
                                   is_listed=False, tier="additional")
    assert "Hidden extra" not in text(Client().get(f"/products/{product.slug}/"))
    for row in (hidden_plan, unlisted_plan):
        page = Client().get(lookups.plan_url(row))
        assert page.status_code == 200 and f"<h1>{row.title}</h1>" in text(page)
