"""GET /metrics: Prometheus text read from the database, for allowed clients only."""

from __future__ import annotations

import ipaddress

import pytest
from prometheus_client.parser import text_string_to_metric_families

from plandeploy import taskdefs
from plandeploy.runs.tests.factories import clear_queue, local_user, publish_plan
from plandeploy.testing.processes import wait_until, worker_process

pytestmark = pytest.mark.django_db(transaction=True)


def samples(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_a_waiting_job_shows_in_its_queue_depth_and_age(client):
    clear_queue()
    taskdefs.ping.defer()
    found = samples(client)
    assert found[("plandeploy_queue_waiting_jobs", (("queue", "short"),))] == 1
    assert found[("plandeploy_queue_oldest_waiting_job_age_seconds", (("queue", "short"),))] >= 0
    clear_queue()


def test_a_scrape_after_a_run_shows_the_run_in_the_counters_and_durations(client):
    clear_queue()
    before = samples(client)
    assert ("plandeploy_runs_total", (("status", "complete"),)) not in before
    assert before[("plandeploy_run_duration_seconds_count", ())] == 0
    user = local_user()
    client.force_login(user)
    plan = publish_plan()
    with worker_process(concurrency=2):
        assert client.post(f"/api/plans/{plan.hashid}/preflight/").status_code == 201
        wait_until(lambda: client.get(f"/api/plans/{plan.hashid}/preflight/").json()["status"]
                   != "started", timeout=90, message="the preflight")
        steps = [step.hashid for step in plan.steps.order_by("step_num_key")]
        created = client.post("/api/jobs/", {"plan": plan.hashid, "steps": steps},
                              content_type="application/json")
        assert created.status_code == 201, created.content
        job_id = created.json()["id"]
        wait_until(lambda: client.get(f"/api/jobs/{job_id}/").json()["status"] != "started",
                   timeout=90, message="the run")
        found = samples(client)
    assert found[("plandeploy_runs_total", (("status", "complete"),))] == 1
    assert found[("plandeploy_preflights_total", (("status", "complete"),))] == 1
    assert found[("plandeploy_run_duration_seconds_count", ())] == 1
    assert found[("plandeploy_run_duration_seconds_bucket", (("le", "+Inf"),))] == 1
    assert found[("plandeploy_run_duration_seconds_sum", ())] > 0
    assert found[("plandeploy_preflight_duration_seconds_count", ())] == 1
    assert found[("plandeploy_workers", ())] >= 1
    assert 0 <= found[("plandeploy_newest_worker_heartbeat_age_seconds", ())] < 30


def test_outside_the_allowed_subnets_without_a_token_metrics_do_not_exist(client, settings):
    settings.METRICS_ALLOWED_SUBNETS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_bearer_token_opens_metrics_from_anywhere(client, settings):
    settings.METRICS_ALLOWED_SUBNETS = []
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    assert b"plandeploy_queue_waiting_jobs" in response.content


def test_a_scheduled_job_that_succeeded_shows_its_last_success(client):
    """The queue deletes succeeded jobs, so the success must be recorded apart from them."""
    import time

    from plandeploy.testing.processes import run_worker_until_idle

    clear_queue()
    started = time.time()
    taskdefs.expire_preflight_results.defer(timestamp=0)
    run_worker_until_idle(queues=("short",))
    found = samples(client)
    key = ("plandeploy_scheduled_job_last_success_timestamp_seconds",
           (("schedule", "expire_preflight_results"),))
    assert found[key] >= started - 1
