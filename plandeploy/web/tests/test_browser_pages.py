"""In Chromium: the language switcher, the 403 and 500 pages, closed and restricted pages,
polling without a socket, the log shown on demand and the copy-link button."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string
from playwright.sync_api import expect

from plandeploy.accounts.services import connect_local_org
from plandeploy.catalog.models import AllowedList, ProductSlug, Version
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job
from plandeploy.web import lookups
from plandeploy.web.tests.browser import LIVE_TIMEOUT_MS, check_page, make_user, sign_in
from plandeploy.web.tests.catalog_rows import sample_plan, wait_steps

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_switcher_turns_the_pages_spanish_by_keyboard(new_page):
    page = new_page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()
    language = page.get_by_label("Language")
    language.focus()
    language.select_option("es")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Change")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Productos", level=1)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    check_page(page, "home-es")


def test_a_form_posted_with_an_expired_session_gets_the_friendly_403_page(new_page):
    page = new_page()
    page.goto("/")
    # As when the session and its CSRF cookie are gone before the visitor submits the form.
    page.context.clear_cookies()
    with page.expect_response(re.compile(r"/i18n/setlang/$")) as answer:
        page.get_by_role("button", name="Change").click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("This form has expired.")).to_be_visible()
    check_page(page, "forbidden")


def test_the_server_error_page(new_page):
    """The 500 template as the server renders it, served at a path of the real server so its
    stylesheet and links resolve there (no route of ours fails on purpose)."""
    page = new_page()
    page.route(re.compile(r".*/server-error-sample/$"), lambda route: route.fulfill(
        status=500, content_type="text/html; charset=utf-8", body=render_to_string("500.html")))
    response = page.goto("/server-error-sample/")
    assert response.status == 500
    expect(page.get_by_role("heading", name="Something went wrong")).to_be_visible()
    check_page(page, "server-error")


def _signed_in_page(new_page):
    user, password = make_user()
    connect_local_org(user, None)
    page = new_page()
    sign_in(page, user, password)
    return user, page


def _install(page, plan) -> None:
    page.goto(lookups.plan_url(plan))
    page.get_by_label(re.compile("I have read and accept")).check()
    page.get_by_role("button", name="Install", exact=True).click()
    expect(page).to_have_url(re.compile(r"/jobs/[A-Za-z0-9]+/$"))


def test_with_the_socket_refused_the_job_page_polls_to_the_final_state(new_page):
    plan = sample_plan(steps=wait_steps(1))
    _user, page = _signed_in_page(new_page)
    attempts = []

    def refuse(socket) -> None:
        attempts.append(socket)
        socket.close()

    page.context.route_web_socket(re.compile(r".*/ws/notifications/$"), refuse)
    _install(page, plan)
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#job-status")).to_have_text("complete", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("li.job-step [data-role=state]")).to_have_text(["ok", "ok"])
    assert page.evaluate("window.__sameDocument") is True
    assert attempts, "the page never tried the socket"


def test_a_steps_log_opens_on_demand_and_the_link_copies(new_page):
    plan = sample_plan(steps=wait_steps(0))
    user, page = _signed_in_page(new_page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _install(page, plan)
    expect(page.locator("#job-status")).to_have_text("complete", timeout=LIVE_TIMEOUT_MS)
    step = page.locator("li.job-step").filter(has_text="Step 2")
    log = step.locator("[data-role=log]")
    expect(log).to_be_hidden()
    step.locator("summary").click()
    expect(log).to_be_visible()
    expect(log).to_contain_text("Set theme = 'dark'")

    job = Job.objects.get(user=user)
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.endswith(lookups.plan_url(plan, "job", job=job.hashid))


def test_closed_install_old_version_and_restricted_pages_pass_axe_and_keyboard(new_page):
    plan = sample_plan()
    restriction = AllowedList.objects.create(
        title="Partners", description="Ask **your partner manager** for access.")
    restricted = factories.product(title="Partner tools", visible_to=restriction)
    factories.version(restricted)
    ProductSlug.objects.create(parent=restricted, slug=f"partner-{restricted.pk}")
    Version.objects.create(product=plan.version.product, label="9.9", commit_ish="")
    page = new_page()
    page.goto(lookups.plan_url(plan))
    # Anonymous: the install waits for a sign-in, and the reason links to the sign-in page.
    expect(page.get_by_role("button", name="Install", exact=True)).to_be_disabled()
    expect(page.locator("#install-reason").get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.get_by_text("This plan belongs to an old version")).to_be_visible()
    check_page(page, "plan-install-closed-old-version")
    page.goto(f"/products/partner-{restricted.pk}/")
    expect(page.get_by_text("Ask your partner manager for access.")).to_be_visible()
    check_page(page, "product-restricted")


def test_a_spanish_visitor_watches_the_steps_turn_ok_in_spanish(new_page):
    plan = sample_plan(steps=wait_steps(1))
    user, password = make_user()
    connect_local_org(user, None)
    page = new_page(locale="es-ES")
    page.goto("/accounts/login/")
    page.get_by_label("Nombre de usuario").fill(user.username)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name="Productos", level=1)).to_be_visible()
    page.goto(lookups.plan_url(plan))
    page.get_by_label(re.compile("He leído y acepto")).check()
    page.get_by_role("button", name="Instalar", exact=True).click()
    expect(page).to_have_url(re.compile(r"/jobs/[A-Za-z0-9]+/$"))
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#job-status")).to_have_text("completada", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("li.job-step [data-role=state]")).to_have_text(["correcto", "correcto"])
    assert page.evaluate("window.__sameDocument") is True
    check_page(page, "job-es")
