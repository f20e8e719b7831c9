"""Fixtures of the page tests: a real web server and worker, and a headless Chromium."""

from __future__ import annotations

import os

import pytest

from plandeploy.runs.tests.factories import clear_queue
from plandeploy.testing.processes import FAST_WORKER_TIMINGS, web_process, worker_process

# Playwright's sync API runs an event loop in its own greenlet; Django would take the test's
# ORM calls for calls from async code. They are not: the test thread is synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker):
    """A `plandeploy web` and a `plandeploy worker` subprocess on the test database."""
    with django_db_blocker.unblock(), worker_process(**FAST_WORKER_TIMINGS), \
            web_process(**FAST_WORKER_TIMINGS) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    from plandeploy.web.tests.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium, site):
    """Opens pages in fresh browser contexts (one per visitor: own cookies, own session)."""
    contexts = []

    def open_page(**options):
        context = chromium.new_context(base_url=site, **{"locale": "en-US", **options})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
    clear_queue()
