"""The plan page's catalogue fragments (web/fragments.py): served from the cache, the page is
the freshly rendered one, in each language, never stale, and without another visitor's data."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from plandeploy.api.tests.helpers import complete_preflight
from plandeploy.catalog import cache
from plandeploy.catalog.models import Step
from plandeploy.catalog.tests import factories
from plandeploy.web import lookups
from plandeploy.web.tests.catalog_rows import sample_plan

pytestmark = pytest.mark.django_db

FRAGMENTS = {"web/plan_head.html", "web/plan_intro.html", "web/plan_steps.html"}
# Each response masks its CSRF token anew; the rest of the page is what is compared.
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def _get(client: Client, url: str, language: str):
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    rendered = {template.name for template in response.templates}
    return CSRF.sub("csrf", response.content.decode()), rendered


def _signed_in() -> tuple[Client, object]:
    user = factories.user()
    client = Client()
    client.force_login(user)
    return client, user


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_plan_page_from_cached_fragments_is_the_freshly_rendered_page(language):
    plan = sample_plan(calculated_average_duration=90)
    plan.set_current_language("es")
    plan.title = "Instalar la muestra"
    plan.save()
    factories.version(plan.version.product, label="2.0")  # the page's version is old now
    client, _user = _signed_in()
    url = lookups.plan_url(plan)
    cache.CACHE.clear()
    fresh, rendered = _get(client, url, language)
    assert FRAGMENTS <= rendered  # this request rendered them
    cached, rendered = _get(client, url, language)
    assert not FRAGMENTS & rendered  # this one took them from the cache
    assert cached == fresh
    assert "(2.0)" in cached  # the old version's notice links to the latest
    assert ("Instalar la muestra" in cached) == (language == "es")
    assert ("Pasos" in cached) == (language == "es")


def test_a_language_gets_its_own_fragments():
    plan = sample_plan()
    client, _user = _signed_in()
    url = lookups.plan_url(plan)
    cache.CACHE.clear()
    fresh_spanish, _ = _get(client, url, "es")
    english, _ = _get(client, url, "en")  # cached in English now
    spanish, rendered = _get(client, url, "es")
    assert not FRAGMENTS & rendered
    assert spanish == fresh_spanish != english
    # The steps table is a fragment: each page has it in its own language.
    assert "<h2>Pasos</h2>" in spanish and "<h2>Pasos</h2>" not in english
    assert "<h2>Steps</h2>" in english


def test_a_catalogue_change_shows_on_the_next_request():
    plan = sample_plan()
    client, _user = _signed_in()
    url = lookups.plan_url(plan)
    _get(client, url, "en")
    step = Step.objects.get(pk=plan.steps.first().pk)
    step.name = "Renamed step"
    step.save()
    page, rendered = _get(client, url, "en")
    assert "Renamed step" in page
    assert FRAGMENTS <= rendered


def test_an_orgs_preflight_results_stay_on_its_own_page():
    plan = factories.plan(steps=3, checks=True)
    first_step = plan.steps.first()
    client, user = _signed_in()
    other, _other_user = _signed_in()
    complete_preflight(plan, user.org_id, user, results={
        first_step.hashid: [{"status": "warn", "message": "Only for this org"}]})
    url = lookups.plan_url(plan)
    for _ in range(2):
        own, _ = _get(client, url, "en")
        foreign, _ = _get(other, url, "en")
        assert "Only for this org" in own
        assert "Only for this org" not in foreign
