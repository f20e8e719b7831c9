"""The Job and PreflightResult admins: search, filters, read-only detail, cancel via the service."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from plandeploy.catalog.tests import factories
from plandeploy.runs import services
from plandeploy.runs.models import Job, PreflightResult, Status

pytestmark = pytest.mark.django_db

JOBS = "/admin/runs/job/"
PREFLIGHTS = "/admin/runs/preflightresult/"


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(factories.user(superuser=True, connected=False))
    return client


def _job(**fields) -> Job:
    user = factories.user()
    plan = factories.plan(steps=1, **fields)
    return services.create_job(plan=plan, steps=plan.steps.all(), user=user)


def _listed(response) -> set[int]:
    return {row.pk for row in response.context["cl"].result_list}


def test_job_search_by_org_user_plan_and_job_id(staff):
    job, other = _job(title="Widgets Install"), _job()
    for term in (job.org_id, job.user.username, job.user.email, "Widgets Install",
                 job.plan.slug, job.hashid):
        response = staff.get(JOBS, {"q": term})
        assert response.status_code == 200
        assert _listed(response) == {job.pk}, term
    assert _listed(staff.get(JOBS)) >= {job.pk, other.pk}
    # Org ids match exactly: part of one finds nothing.
    assert _listed(staff.get(JOBS, {"q": job.org_id[:10]})) == set()


def test_job_filters_by_status_and_date(staff):
    started, finished = _job(), _job()
    Job.objects.filter(pk=finished.pk).update(status=Status.COMPLETE)
    assert _listed(staff.get(JOBS, {"status__exact": "complete"})) & {started.pk, finished.pk} == {
        finished.pk}
    day = started.created_at
    on_day = staff.get(JOBS, {"created_at__year": day.year, "created_at__month": day.month,
                              "created_at__day": day.day})
    assert {started.pk, finished.pk} <= _listed(on_day)
    assert _listed(staff.get(JOBS, {"created_at__year": day.year - 1})) == set()


def test_job_detail_is_read_only_and_shows_results_and_a_scrubbed_log(staff):
    job = _job()
    Job.objects.filter(pk=job.pk).update(
        results={"step": [{"status": "ok", "message": "done <b>"}]},
        log="calling with Authorization: Bearer s3cr3t-token-value\n",
    )
    page = staff.get(f"{JOBS}{job.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "s3cr3t-token-value" not in html
    assert "Bearer &lt;redacted" in html or "Bearer <redacted" in html
    assert "done &lt;b&gt;" in html  # results are shown escaped
    assert 'name="_save"' not in html  # no form to change the row
    plan = job.plan
    assert (f'href="/products/{plan.version.product.slug}/{plan.version.label}/{plan.slug}/'
            f'jobs/{job.hashid}/"') in html
    before = Job.objects.values().get(pk=job.pk)
    staff.post(f"{JOBS}{job.pk}/change/", {"status": "complete", "org_id": "00Dchanged"})
    assert Job.objects.values().get(pk=job.pk) == before
    assert staff.get(f"{JOBS}add/").status_code == 403
    assert staff.get(f"{JOBS}{job.pk}/delete/").status_code == 403


def test_cancel_action_cancels_running_jobs_through_the_service_and_skips_ended_ones(staff):
    running, ended = _job(), _job()
    Job.objects.filter(pk=ended.pk).update(status=Status.COMPLETE)
    response = staff.post(JOBS, {"action": "cancel_runs",
                                 "_selected_action": [running.pk, ended.pk]}, follow=True)
    assert response.status_code == 200
    texts = [str(message) for message in response.context["messages"]]
    assert any("Canceled 1 job(s)" in text for text in texts), texts
    assert any("1 job(s) had already ended" in text for text in texts), texts
    running.refresh_from_db()
    ended.refresh_from_db()
    assert running.status == Status.CANCELED and running.cancel_requested_at is not None
    assert running.canceled_at is not None
    assert ended.status == Status.COMPLETE and ended.cancel_requested_at is None


def test_cancel_action_needs_the_change_permission():
    viewer = factories.user(staff=True, connected=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_job"))
    client = Client()
    client.force_login(viewer)
    job = _job()
    page = client.get(JOBS)
    assert page.status_code == 200
    assert "cancel_runs" not in page.content.decode()
    client.post(JOBS, {"action": "cancel_runs", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == Status.STARTED


def test_preflight_admin_searches_and_cancels_through_the_service(staff):
    user = factories.user()
    plan = factories.plan(steps=1)
    preflight = services.request_preflight(plan=plan, user=user)
    other = PreflightResult.objects.create(plan=factories.plan(steps=1), org_id="00DOTHER00000001",
                                           status=Status.COMPLETE)
    assert _listed(staff.get(PREFLIGHTS, {"q": user.org_id})) == {preflight.pk}
    assert _listed(staff.get(PREFLIGHTS, {"q": user.username})) == {preflight.pk}
    assert staff.get(f"{PREFLIGHTS}{preflight.pk}/change/").status_code == 200
    response = staff.post(PREFLIGHTS, {"action": "cancel_runs",
                                       "_selected_action": [preflight.pk, other.pk]}, follow=True)
    texts = [str(message) for message in response.context["messages"]]
    assert any("Canceled 1 preflight(s)" in text for text in texts), texts
    assert any("1 preflight(s) had already ended" in text for text in texts), texts
    preflight.refresh_from_db()
    assert preflight.status == Status.CANCELED


def test_job_changelist_queries_do_not_grow_with_the_rows(staff):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert staff.get(JOBS).status_code == 200
        return len(queries)

    _job()
    few = count()
    for _ in range(4):
        _job()
    assert count() == few
