"""How many SQL statements the plan page and the job page cost a signed-in owner, fixed so
that a change that adds per-request work shows here. Counted on the second request, as a
running server serves it (the catalogue cache warm)."""

from __future__ import annotations

import pytest
from django.test import Client

from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job, Status
from plandeploy.web import lookups

pytestmark = pytest.mark.django_db

# The session, its user with the user's org connection.
SIGNED_IN = 2
# The catalogue version (the plan, its version and product, the site profile are cached).
CATALOGUE_HIT = 1


@pytest.fixture
def owner_client():
    user = factories.user()
    client = Client()
    client.force_login(user)
    return client, user


def test_plan_page(owner_client, django_assert_max_num_queries):
    client, _user = owner_client
    plan = factories.plan(steps=6, checks=True)
    url = lookups.plan_url(plan)
    assert client.get(url).status_code == 200
    # The org's latest preflight; its running job, asked once for the page and the frame.
    with django_assert_max_num_queries(SIGNED_IN + CATALOGUE_HIT + 1 + 1):
        assert client.get(url).status_code == 200


def test_job_page(owner_client, django_assert_max_num_queries):
    client, user = owner_client
    plan = factories.plan(steps=6)
    job = Job.objects.create(user=user, plan=plan, org_id=user.org_id, status=Status.COMPLETE)
    job.steps.set(plan.steps.all())
    url = lookups.plan_url(plan, "job", job=job.hashid)
    assert client.get(url).status_code == 200
    # The job with its user, their org and its steps, in one row (whether its version is
    # the latest comes from the cache); the frame's running job.
    with django_assert_max_num_queries(SIGNED_IN + CATALOGUE_HIT + 1 + 1):
        assert client.get(url).status_code == 200


def test_plan_page_of_an_org_running_a_job_asks_for_the_job_once(
        owner_client, django_assert_max_num_queries):
    client, user = owner_client
    plan = factories.plan(steps=6)
    other = factories.plan(steps=2)
    running = Job.objects.create(user=user, plan=other, org_id=user.org_id)
    url = lookups.plan_url(plan)
    job_url = lookups.plan_url(other, "job", job=running.hashid)
    assert client.get(url).status_code == 200
    with django_assert_max_num_queries(SIGNED_IN + CATALOGUE_HIT + 1 + 1):
        page = client.get(url).content.decode()
    # Both the frame's banner and the install gate link to it.
    assert page.count(f'href="{job_url}"') == 2
    assert f'data-job-id="{running.hashid}"' in page
