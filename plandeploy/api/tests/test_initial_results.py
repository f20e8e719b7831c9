"""POST /api/jobs/ `results`: a client may only pre-hide steps, and plant no text in them."""

from __future__ import annotations

import pytest

from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job

pytestmark = pytest.mark.django_db


def _post(client, plan, results):
    body = {"plan": plan.hashid, "steps": [s.hashid for s in plan.steps.all()],
            "results": results}
    return client.post("/api/jobs/", body, format="json")


def test_hidden_steps_are_stored_as_given(client):
    client.force_authenticate(factories.user())
    plan = factories.plan(steps=2)
    second = plan.steps.order_by("pk").last()
    response = _post(client, plan, {second.hashid: [{"status": "hide"}]})
    assert response.status_code == 201, response.json()
    assert Job.objects.get().results == {second.hashid: [{"status": "hide"}]}


@pytest.mark.parametrize("entry", [
    {"status": "hide", "logs": "<script>alert(1)</script>"},
    {"status": "hide", "message": "<img src=x onerror=alert(1)> 00D000000000001"},
    {"status": "hide", "message": None},
    {"status": "hide", "extra": 1},
    {"status": "ok"},
    {},
])
def test_anything_beside_the_hide_status_is_refused_and_nothing_is_stored(client, entry):
    client.force_authenticate(factories.user())
    plan = factories.plan(steps=2)
    second = plan.steps.order_by("pk").last()
    response = _post(client, plan, {second.hashid: [entry]})
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Invalid initial results."]}
    assert not Job.objects.exists()


@pytest.mark.parametrize("results", [[{"status": "hide"}], "hide", {"x": [{"status": "hide"}]}])
def test_results_of_another_shape_are_refused(client, results):
    client.force_authenticate(factories.user())
    plan = factories.plan(steps=1)
    response = _post(client, plan, results)
    assert response.status_code == 400
    assert not Job.objects.exists()
