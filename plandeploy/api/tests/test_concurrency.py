"""Races on job creation: a job seen without its steps, and two runs started on one org."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from plandeploy.catalog.tests import factories
from plandeploy.runs import services
from plandeploy.runs.models import Job, Status

pytestmark = pytest.mark.django_db(transaction=True)


def _post_job(user, plan, results: list, barrier: threading.Barrier | None = None) -> None:
    try:
        client = APIClient()
        client.force_authenticate(user)
        body = {"plan": plan.hashid, "steps": [s.hashid for s in plan.steps.all()]}
        if barrier:
            barrier.wait(timeout=10)
        response = client.post("/api/jobs/", body, format="json")
        results.append((response.status_code, response.json()))
    finally:
        connections.close_all()


def test_two_concurrent_creates_for_one_org_give_one_201_and_one_400():
    user = factories.user()
    plan = factories.plan(steps=2)
    results: list = []
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=_post_job, args=(user, plan, results, barrier))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    codes = sorted(code for code, _ in results)
    assert codes == [201, 400], results
    winner = next(body for code, body in results if code == 201)
    loser = next(body for code, body in results if code == 400)
    assert loser == {"non_field_errors": [
        f"Pending job {winner['id']} exists. Please try again later, or cancel that job."
    ]}
    assert Job.objects.filter(org_id=user.org_id, status=Status.STARTED).count() == 1


def test_the_database_constraint_refuses_a_create_the_read_check_could_not_see():
    """A create whose pending-job read ran before the other insert committed still gets 400."""
    user = factories.user()
    plan = factories.plan(steps=1)
    holding = threading.Event()
    release = threading.Event()
    first: list = []

    def insert_and_hold():
        try:
            with transaction.atomic():
                first.append(services.create_job(plan=plan, steps=plan.steps.all(), user=user))
                holding.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=insert_and_hold)
    holder.start()
    assert holding.wait(timeout=10)
    results: list = []
    poster = threading.Thread(target=_post_job, args=(user, plan, results))
    poster.start()
    # Wait until the API's insert blocks on the uncommitted row's unique-index entry.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query ILIKE 'INSERT INTO \"runs_job\"%%'"
            )
            if cursor.fetchone()[0]:
                break
        time.sleep(0.02)
    else:
        pytest.fail("the API insert never waited on the running job's row")
    release.set()
    holder.join(timeout=30)
    poster.join(timeout=30)
    assert results == [(400, {"non_field_errors": [
        f"Pending job {first[0].hashid} exists. Please try again later, or cancel that job."
    ]})]
    assert Job.objects.filter(org_id=user.org_id).count() == 1


def test_no_reader_ever_sees_a_job_without_its_steps():
    """Jobs are created through the API while another connection keeps reading them."""
    plan = factories.plan(steps=3)
    users = [factories.user() for _ in range(8)]
    stop = threading.Event()
    seen_without_steps: list = []
    reads = [0]

    def reader():
        try:
            while not stop.is_set():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT j.id FROM runs_job j WHERE NOT EXISTS "
                        "(SELECT 1 FROM runs_job_steps s WHERE s.job_id = j.id)"
                    )
                    seen_without_steps.extend(row[0] for row in cursor.fetchall())
                reads[0] += 1
        finally:
            connections.close_all()

    thread = threading.Thread(target=reader)
    thread.start()
    results: list = []
    for user in users:
        _post_job(user, plan, results)
    stop.set()
    thread.join(timeout=10)
    assert [code for code, _ in results] == [201] * len(users)
    assert reads[0] > 0
    assert seen_without_steps == []
