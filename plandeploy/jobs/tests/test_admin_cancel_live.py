"""The admin site's cancel action stops a job that is running on a real worker."""

from __future__ import annotations

import pytest
from django.test import Client as DjangoClient

from plandeploy.catalog.tests import factories
from plandeploy.jobs.tests.test_flows_worker import WAIT, Client, job_row, steps_of
from plandeploy.runs.models import CANCELED_MESSAGE
from plandeploy.runs.tests.factories import clear_queue, publish_plan, step_data
from plandeploy.testing.processes import FAST_WORKER_TIMINGS, worker_process

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), worker_process(concurrency=1, **FAST_WORKER_TIMINGS) as p:
        yield p


def test_admin_cancel_action_stops_a_running_job(web, worker):
    clear_queue()
    user = Client(web)
    plan = publish_plan(steps=[step_data("1", WAIT, seconds=300), step_data("2", WAIT)])
    first, second = steps_of(plan)
    job_id = user.start(plan)
    user.wait_step_started(job_id, first)

    staff = DjangoClient()
    staff.force_login(factories.user(superuser=True, connected=False))
    response = staff.post("/admin/runs/job/", {
        "action": "cancel_runs", "_selected_action": [job_row(job_id).pk],
    }, follow=True)
    assert any("Canceled 1 job(s)" in str(m) for m in response.context["messages"])

    data = user.wait_status(job_id, timeout=60)
    assert data["status"] == "canceled"
    assert job_row(job_id).exception == CANCELED_MESSAGE
    assert second.hashid not in data["results"]
