"""The plan page applies a preflight's results: errors, warnings, optional, skip and hide."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from plandeploy.api.tests.helpers import complete_preflight
from plandeploy.runs.models import PreflightResult
from plandeploy.runs.tests.factories import local_user
from plandeploy.web import lookups, presenters
from plandeploy.web.tests.catalog_rows import sample_plan

pytestmark = pytest.mark.django_db


def steps_of(plan) -> dict[str, str]:
    return {step.step_num: step.hashid for step in plan.steps.all()}


def test_results_change_the_step_list():
    plan = sample_plan()
    ids = steps_of(plan)
    preflight = complete_preflight(plan, "00DPREFLIGHT000001", results={
        ids["1"]: [{"status": "skip", "message": "Core 1.0 is already installed."}],
        ids["2"]: [{"status": "optional", "message": "Settings are already on."}],
        ids["3"]: [{"status": "hide"}],
        ids["4"]: [{"status": "warn", "message": "Announcing &amp; more."}],
        "plan": [{"status": "error", "message": "This org cannot take the product."}],
    })
    rows = {row.id: row for row in presenters.step_rows(plan, preflight)}
    assert ids["3"] not in rows  # hidden
    skipped = rows[ids["1"]]
    assert skipped.skipped and not skipped.checked and skipped.locked
    made_optional = rows[ids["2"]]
    assert made_optional.requirement == "recommended" and not made_optional.locked
    warned = rows[ids["4"]]
    assert warned.requirement == "required" and warned.locked
    assert [(m.status, m.text) for m in warned.messages] == [("warn", "Announcing & more.")]
    assert [m.text for m in presenters.plan_messages(preflight)] == [
        "This org cannot take the product."]


def test_plan_page_shows_errors_and_keeps_install_closed():
    plan = sample_plan()
    user = local_user()
    ids = steps_of(plan)
    complete_preflight(plan, user.org_id, user, results={
        ids["2"]: [{"status": "error", "message": "Settings are locked in this org."}],
        "plan": [{"status": "warn", "message": "Back up your org first."}],
    })
    client = Client()
    client.force_login(user)
    page = client.get(lookups.plan_url(plan)).content.decode()
    assert "The preflight checks found 1 error." in page
    assert "Settings are locked in this org." in page
    assert "Back up your org first." in page
    assert 'id="install" disabled' in page


def test_an_expired_preflight_no_longer_opens_the_install():
    plan = sample_plan()
    user = local_user()
    preflight = complete_preflight(plan, user.org_id, user)
    client = Client()
    client.force_login(user)
    assert 'id="install" disabled' not in client.get(lookups.plan_url(plan)).content.decode()
    PreflightResult.objects.filter(pk=preflight.pk).update(
        created_at=timezone.now() - timedelta(hours=2))
    assert 'id="install" disabled' in client.get(lookups.plan_url(plan)).content.decode()
