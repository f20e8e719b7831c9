"""The pages through Django's test client: what each shows, to whom, and the error pages."""

from __future__ import annotations

import pytest
from django.test import Client

from plandeploy.api.tests.helpers import (
    complete_preflight,
    complete_scratch_org,
    hold_scratch_org,
)
from plandeploy.catalog.models import AllowedList, ProductSlug, Version
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job, ScratchOrg, Status
from plandeploy.runs.tests.factories import local_user
from plandeploy.web import lookups
from plandeploy.web.tests.catalog_rows import sample_plan

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


def test_home_lists_listed_products_by_category_and_unlisted_ones_stay_reachable():
    plan = sample_plan()
    product = plan.version.product
    product.color = "#ff5d2d"
    product.save()
    hidden = factories.product(title="Secret product", is_listed=False)
    factories.plan(factories.version(hidden))
    home = Client().get("/")
    assert home.status_code == 200
    assert "Samples" in text(home) and product.title in text(home)
    assert "Secret product" not in text(home)
    assert 'fill="#ff5d2d"' in text(home)
    page = Client().get(f"/products/{hidden.slug}/")
    assert page.status_code == 200 and "Secret product" in text(page)


def test_product_page_shows_the_latest_version_and_marks_old_ones():
    plan = sample_plan()
    product = plan.version.product
    old_label = plan.version.label
    newer = Version.objects.create(product=product, label="9.9", commit_ish="")
    factories.plan(newer, title="Newer install", slug="install")
    latest = Client().get(f"/products/{product.slug}/")
    assert "9.9" in text(latest) and "Newer install" in text(latest)
    assert "old version" not in text(latest)
    old = Client().get(f"/products/{product.slug}/{old_label}/")
    assert old.status_code == 200 and "This is an old version of the product." in text(old)
    assert f"/products/{product.slug}/9.9/" in text(old)
    old_plan = Client().get(lookups.plan_url(plan))
    assert "This plan belongs to an old version" in text(old_plan)


def test_an_old_product_slug_redirects_to_the_current_one():
    plan = sample_plan()
    product = plan.version.product
    current = product.slug
    ProductSlug.objects.filter(parent=product).update(is_active=False)
    ProductSlug.objects.create(parent=product, slug=f"{current}-renamed")
    response = Client().get(f"/products/{current}/")
    assert response.status_code == 302
    assert response["Location"] == f"/products/{current}-renamed/"


def test_restricted_product_shows_its_instructions_instead_of_its_plans():
    restriction = AllowedList.objects.create(
        title="Partners", description="Ask **your partner manager** for access.")
    product = factories.product(title="Partner tools", visible_to=restriction)
    plan = factories.plan(factories.version(product), title="Partner install")
    page = Client().get(f"/products/{product.slug}/")
    assert "<strong>your partner manager</strong>" in text(page)
    assert "Partner install" not in text(page)
    plan_page = Client().get(lookups.plan_url(plan))
    assert plan_page.status_code == 200
    assert "This plan is restricted." in text(plan_page)
    assert 'name="steps"' not in text(plan_page)


def test_markdown_is_rendered_and_raw_html_in_it_is_escaped():
    plan = sample_plan()
    template = plan.plan_template
    template.preflight_message = "Read *this* <script>alert(1)</script>"
    template.save()
    page = text(Client().get(lookups.plan_url(plan)))
    assert "<em>this</em>" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_plan_page_says_why_install_is_closed():
    plan = sample_plan()
    url = lookups.plan_url(plan)
    anonymous = text(Client().get(url))
    assert "Sign in to install this plan." in anonymous
    no_org = Client()
    no_org.force_login(factories.user(connected=False))
    assert "Connect an org to install this plan." in text(no_org.get(url))
    user = local_user()
    client = Client()
    client.force_login(user)
    assert "Run the preflight checks first" in text(client.get(url))
    complete_preflight(plan, user.org_id, user)
    assert 'id="install" disabled' not in text(client.get(url))
    busy = Job.objects.create(user=user, plan=plan, org_id=user.org_id)
    page = text(client.get(url))
    assert "Your org is busy with another installation." in page
    assert lookups.plan_url(plan, "job", job=busy.hashid) in page


def test_install_without_accepting_the_agreement_starts_nothing():
    plan = sample_plan(steps=[])
    user = local_user()
    client = Client()
    client.force_login(user)
    response = client.post(lookups.plan_url(plan, "install"), {"steps": []})
    assert response.status_code == 302
    assert not Job.objects.filter(user=user).exists()
    assert "Please accept the agreement to install." in text(client.get(response["Location"]))


def test_my_installations_lists_only_the_users_own_jobs_newest_first():
    plan = sample_plan()
    user, other = local_user(), local_user()
    first = Job.objects.create(user=user, plan=plan, org_id=user.org_id, status=Status.COMPLETE)
    second = Job.objects.create(user=user, plan=plan, org_id=user.org_id)
    foreign = Job.objects.create(user=other, plan=plan, org_id=other.org_id)
    client = Client()
    client.force_login(user)
    page = text(client.get("/my-installations/"))

    def row(job) -> str:
        return f'data-job-id="{job.hashid}"'

    assert page.index(row(second)) < page.index(row(first))
    assert row(foreign) not in page
    assert Client().get("/my-installations/").status_code == 302


def test_sign_in_and_out_land_on_the_home_page():
    user = factories.user()
    user.set_password("a-long-password")
    user.save()
    client = Client()
    response = client.post("/accounts/login/", {
        "username": user.username, "password": "a-long-password"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "Sign out" in text(client.get("/"))
    signed_out = client.post("/accounts/logout/")
    assert signed_out.status_code == 302 and signed_out["Location"] == "/"
    assert "Sign out" not in text(client.get("/"))


def test_connecting_an_org_gives_the_user_a_local_org():
    user = factories.user(connected=False)
    client = Client()
    client.force_login(user)
    response = client.post("/org/connect/", {"next": "https://elsewhere.example/"})
    assert response.status_code == 302 and response["Location"] == "/"
    user.refresh_from_db()
    assert user.org_id and user.valid_token_for == user.org_id


def test_unknown_page_is_html_but_unknown_api_path_stays_json():
    page = Client().get("/no-such-page/")
    assert page.status_code == 404 and "Page not found" in text(page)
    assert page["Content-Type"].startswith("text/html")
    api = Client().get("/api/no-such-thing/")
    assert api.status_code == 404 and api.json() == {"detail": "Not found."}
    admin_api = Client().get("/admin/rest/no-such-thing")
    assert admin_api.json() == {"detail": "Not found."}


def test_language_follows_accept_language():
    page = Client().get("/", HTTP_ACCEPT_LANGUAGE="fr")
    assert '<html lang="fr">' in text(page)
    assert '<option value="fr" lang="fr" selected>français</option>' in text(page)


def test_server_error_page_is_html_for_pages_and_json_for_the_api():
    from django.test import RequestFactory

    from plandeploy.api.errors import server_error

    page = server_error(RequestFactory().get("/products/x/"))
    assert page.status_code == 500 and b"Something went wrong" in page.content
    api = server_error(RequestFactory().get("/api/jobs/x/"))
    assert api.status_code == 500 and b'"Server error."' in api.content


def test_a_form_posted_without_csrf_token_gets_the_friendly_403_page():
    client = Client(enforce_csrf_checks=True)
    client.force_login(factories.user(connected=False))
    response = client.post("/org/connect/")
    assert response.status_code == 403
    assert "This form has expired." in text(response)


def test_language_switcher_sets_the_language():
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "de", "next": "/"})
    assert response.status_code == 302
    assert '<html lang="de">' in text(client.get("/"))


def test_a_scratch_org_link_binds_only_on_its_own_plan_page():
    plan = sample_plan()
    other = sample_plan()
    scratch_org = complete_scratch_org(plan)
    client = Client()
    client.get(lookups.plan_url(other) + f"?scratch_org_id={scratch_org.uuid}")
    assert "scratch_org_id" not in client.session
    client.get(lookups.plan_url(plan) + f"?scratch_org_id={scratch_org.uuid}")
    assert client.session["scratch_org_id"] == str(scratch_org.uuid)


def _queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_plan_and_job_pages_cost_the_same_queries_for_few_or_many_steps():
    from plandeploy.runs.tests.factories import step_data

    user = local_user()
    client = Client()
    client.force_login(user)
    counts = []
    for size in (2, 12):
        plan = sample_plan(steps=[step_data(str(n), "tasks.wait.Wait") for n in
                                  range(1, size + 1)])
        job = Job.objects.create(user=user, plan=plan, org_id=user.org_id, status=Status.COMPLETE)
        job.steps.set(plan.steps.all())
        counts.append((_queries(client, lookups.plan_url(plan)),
                       _queries(client, lookups.plan_url(plan, "job", job=job.hashid))))
        job.delete()
    assert counts[0] == counts[1]


def test_banners_for_a_lost_org_connection_and_a_running_job_show_on_any_page():
    plan = sample_plan()
    lost = factories.user(token=False)
    client = Client()
    client.force_login(lost)
    assert "The connection to your org has been lost." in text(client.get("/"))
    user = local_user()
    client.force_login(user)
    home = text(client.get("/"))
    assert "connection to your org has been lost" not in home
    assert "An installation is running on your org" not in home
    job = Job.objects.create(user=user, plan=plan, org_id=user.org_id)
    page = text(client.get("/my-installations/"))
    assert "An installation is running on your org" in page
    assert lookups.plan_url(plan, "job", job=job.hashid) in page


def test_the_plan_page_never_shows_the_scratch_orgs_uuid_to_the_session_holding_it():
    """The uuid is the org's only credential: the page follows the org through the session
    (the socket carries the cookie), so it need not, and must not, be in the HTML."""
    plan = sample_plan(supported_orgs="Scratch")
    scratch_org = ScratchOrg.objects.create(plan=plan, status=Status.STARTED)
    client = Client()
    hold_scratch_org(client, scratch_org)
    forms = {str(scratch_org.uuid), scratch_org.uuid.hex}

    creating = text(client.get(lookups.plan_url(plan)))
    assert f'data-live-id="{scratch_org.hashid}"' in creating  # it is followed live
    assert not any(form in creating for form in forms)

    ScratchOrg.objects.filter(pk=scratch_org.pk).update(status=Status.COMPLETE,
                                                        org_id="00DSCRATCHPAGE0001")
    waiting_for_preflight = text(client.get(lookups.plan_url(plan)))
    assert "expires on" in waiting_for_preflight
    assert not any(form in waiting_for_preflight for form in forms)

    complete_preflight(plan, "00DSCRATCHPAGE0001")
    ready = text(client.get(lookups.plan_url(plan)))
    assert not any(form in ready for form in forms)
    job = Job.objects.create(plan=plan, org_id="00DSCRATCHPAGE0001")
    job_page = text(client.get(lookups.plan_url(plan, "job", job=job.hashid)))
    assert job.hashid in job_page and not any(form in job_page for form in forms)
    api = client.get(f"/api/plans/{plan.hashid}/scratch_org/")
    assert api.status_code == 200 and not any(form in api.content.decode() for form in forms)
