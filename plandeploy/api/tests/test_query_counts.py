"""How many SQL statements each public endpoint costs, fixed so that a change that adds
per-request work shows here. Counted on the second request, as a running server serves it
(the catalogue cache warm; a cold cache builds once per catalogue change)."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job, Status

pytestmark = pytest.mark.django_db

# Reading the catalogue version; a cache hit needs nothing else.
CATALOGUE_HIT = 1
# Token authentication: the token with its user and org and the catalogue version, in one
# statement (so a cache hit needs no other), and a last-activity update at most once a
# minute (not counted: the second request falls in the same minute).
TOKEN_AND_CATALOGUE = 1
# Rate limits: both counters in one statement, and at most once a second per process the
# purge of expired ones.
RATE_LIMIT = 2


@pytest.fixture
def plan():
    return factories.plan(steps=6, checks=True, calculated_average_duration=90)


def token_client(user=None) -> tuple[APIClient, object]:
    user = user or factories.user()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token {factories.api_token(user)}")
    return client, user


def second(client, django_assert_max_num_queries, count: int, method: str, path: str,
           **options):
    getattr(client, method)(path, **options)
    with django_assert_max_num_queries(count):
        return getattr(client, method)(path, **options)


def test_healthz_reads_nothing(client, django_assert_max_num_queries):
    assert second(client, django_assert_max_num_queries, 0, "get", "/healthz").status_code == 200


def test_product_list(client, plan, django_assert_max_num_queries):
    response = second(client, django_assert_max_num_queries, CATALOGUE_HIT, "get",
                      "/api/products/")
    assert response.status_code == 200 and response.json()["count"] >= 1


def test_product_detail(client, plan, django_assert_max_num_queries):
    path = f"/api/products/{plan.version.product.hashid}/"
    assert second(client, django_assert_max_num_queries, CATALOGUE_HIT, "get",
                  path).status_code == 200


def test_plan_anonymous_and_in_spanish(client, plan, django_assert_max_num_queries):
    path = f"/api/plans/{plan.hashid}/"
    assert second(client, django_assert_max_num_queries, CATALOGUE_HIT, "get",
                  path).status_code == 200
    assert second(client, django_assert_max_num_queries, CATALOGUE_HIT, "get", path,
                  headers={"Accept-Language": "es"}).status_code == 200


def test_plan_with_a_token(plan, django_assert_max_num_queries):
    client, _user = token_client()
    path = f"/api/plans/{plan.hashid}/"
    assert second(client, django_assert_max_num_queries, TOKEN_AND_CATALOGUE, "get",
                  path).status_code == 200


def test_plan_with_a_token_and_an_allowed_list(django_assert_max_num_queries):
    # With allowed lists the visibility class needs the lists naming the user's org.
    factories.allowed_list(org_type=["Production"])
    plan = factories.plan()
    client, _user = token_client()
    path = f"/api/plans/{plan.hashid}/"
    assert second(client, django_assert_max_num_queries, TOKEN_AND_CATALOGUE + 1, "get",
                  path).status_code == 200


def test_job_of_its_owner(plan, django_assert_max_num_queries):
    client, user = token_client()
    job = Job.objects.create(user=user, plan=plan, org_id=user.org_id, status=Status.COMPLETE)
    job.steps.set(plan.steps.all())
    # The job with its user, org and steps, in one row (its plan, and whether its version is
    # the latest, come from the catalogue cache).
    response = second(client, django_assert_max_num_queries, TOKEN_AND_CATALOGUE + 1, "get",
                      f"/api/jobs/{job.hashid}/")
    assert response.status_code == 200


def test_post_job(django_assert_max_num_queries, settings):
    plan = factories.plan(steps=6)
    body = json.dumps({"plan": plan.hashid,
                       "steps": [step.hashid for step in plan.steps.all()]})
    # Another user's run first, so the plan's part of a job's response is in the cache.
    first, _user = token_client()
    assert first.post("/api/jobs/", body, content_type="application/json").status_code == 201
    client, _user = token_client()
    client.get(f"/api/plans/{plan.hashid}/preflight/")  # this minute's last-activity update
    # Token with the catalogue version (the plan, its steps and whether its version is the
    # latest come from the cache); rate limits; is the org busy; the transaction: its
    # savepoint (the test's transaction is around it), the job, its steps with the org's
    # event, joining a waiting enqueuer with its wake-up (or deferring one), the savepoint's
    # release.
    with django_assert_max_num_queries(TOKEN_AND_CATALOGUE + RATE_LIMIT + 1 + 5):
        response = client.post("/api/jobs/", body, content_type="application/json")
    assert response.status_code == 201, response.content


def test_post_preflight(plan, django_assert_max_num_queries):
    client, _user = token_client()
    client.get(f"/api/plans/{plan.hashid}/preflight/")  # the plan is in the cache
    # Token with the catalogue version; rate limits; is the org busy; the transaction: its
    # savepoint (the test's transaction is around it), the preflight, its queue row, its
    # queue id with the org's event, the savepoint's release.
    with django_assert_max_num_queries(TOKEN_AND_CATALOGUE + RATE_LIMIT + 1 + 5):
        response = client.post(f"/api/plans/{plan.hashid}/preflight/")
    assert response.status_code == 201, response.content
