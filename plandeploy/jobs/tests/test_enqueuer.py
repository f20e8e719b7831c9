"""enqueuer_job on the real database: claims, deferrals, sharing, invalidation, races."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
from django.db import connections, transaction
from procrastinate.contrib.django import app

from plandeploy import taskdefs
from plandeploy.runs import enqueue, services
from plandeploy.runs.enqueue import enqueue_pending
from plandeploy.runs.models import CANCELED_MESSAGE, Job, PreflightResult, Status
from plandeploy.runs.tests.factories import (
    clear_queue,
    local_user,
    publish_plan,
)
from plandeploy.testing.processes import run_worker_until_idle
from plandeploy.tests import queue_rows as queue_row_helpers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_queue():
    clear_queue()


def queue_rows(task_name: str) -> list[dict]:
    return queue_row_helpers.rows(task_name)


def new_job(plan=None, user=None) -> Job:
    plan = plan or publish_plan()
    user = user or local_user()
    return services.create_job(plan=plan, steps=plan.steps.all(), user=user)


def in_thread(target, *args):
    """Run `target` in a thread with its own database connection; return its result."""
    out: dict = {}

    def run():
        try:
            out["value"] = target(*args)
        except BaseException as exc:  # re-raised in the caller
            out["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_create_job_defers_enqueuer_in_its_transaction_and_enqueuer_defers_the_run():
    job = new_job()
    enqueuers = queue_rows("enqueuer_job")
    assert [row["args"] for row in enqueuers] == [{"job_pk": job.pk}]
    assert enqueuers[0]["queue_name"] == "short"

    run_worker_until_idle(queues=("short",))

    job.refresh_from_db()
    runs = queue_rows("run_flows_job")
    assert len(runs) == 1
    assert runs[0]["args"] == {"job_pk": job.pk}
    assert runs[0]["queue_name"] == "default"
    assert runs[0]["lock"] == f"org:{job.org_id}"
    assert job.enqueued_at is not None
    assert job.job_id == runs[0]["id"]
    assert job.started_at is None  # waiting, not running: a queued run is not reported as running
    assert job.status == Status.STARTED


def test_enqueuer_is_idempotent():
    new_job()
    assert enqueue_pending() == 1
    assert enqueue_pending() == 0
    assert enqueue_pending() == 0
    assert len(queue_rows("run_flows_job")) == 1


def test_enqueuer_invalidates_only_the_jobs_own_valid_preflights(events):
    plan = publish_plan()
    other_plan = publish_plan()
    user, other_user = local_user(), local_user()
    same = PreflightResult.objects.create(plan=plan, org_id=user.org_id, user=user,
                                          status=Status.COMPLETE)
    same_older = PreflightResult.objects.create(plan=plan, org_id=user.org_id, user=user,
                                                status=Status.COMPLETE)
    other_plan_pf = PreflightResult.objects.create(plan=other_plan, org_id=user.org_id, user=user,
                                                   status=Status.COMPLETE)
    other_org = PreflightResult.objects.create(plan=plan, org_id=other_user.org_id,
                                               user=other_user, status=Status.COMPLETE)
    new_job(plan, user)
    assert enqueue_pending() == 1
    invalidated = {e["id"] for e in events.collect() if e["type"] == "PREFLIGHT_INVALIDATED"}
    valid = dict(PreflightResult.objects.values_list("pk", "is_valid"))
    assert valid == {same.pk: False, same_older.pk: False, other_plan_pf.pk: True,
                     other_org.pk: True}
    assert invalidated == {str(same.pk), str(same_older.pk)}


def test_job_canceled_before_enqueue_never_runs(events):
    job = new_job()
    assert services.request_cancel_job(job) is True
    assert enqueue_pending() == 0
    types = events.types("job", job.hashid)
    job.refresh_from_db()
    assert job.status == Status.CANCELED
    assert job.exception == CANCELED_MESSAGE
    assert job.canceled_at is not None
    assert queue_rows("run_flows_job") == []
    assert types == ["JOB_CANCELED"]


def test_sweep_cancels_a_waiting_job_whose_cancel_was_recorded():
    job = new_job()
    # A cancel recorded while the job was waiting (e.g. by an older API process).
    Job.objects.filter(pk=job.pk).update(cancel_requested_at=job.created_at)
    assert enqueue_pending() == 0
    job.refresh_from_db()
    assert job.status == Status.CANCELED
    assert queue_rows("run_flows_job") == []


def test_a_claimed_job_is_skipped_not_waited_for_and_enqueued_once():
    """While one enqueuer holds a job, another skips it instead of enqueuing it again."""
    job = new_job()
    with transaction.atomic():
        # This connection plays an enqueuer in the middle of its claim.
        list(Job.objects.select_for_update().filter(pk=job.pk))
        thread, out = in_thread(enqueue_pending)
        thread.join(10)
        assert not thread.is_alive(), "the second enqueuer blocked on the locked row"
        assert out == {"value": 0}
    assert enqueue_pending() == 1
    assert len(queue_rows("run_flows_job")) == 1


def test_two_enqueuers_racing_enqueue_each_job_exactly_once():
    """Two concurrent sweeps over many waiting jobs split them; none is enqueued twice."""
    plan = publish_plan()
    jobs = [new_job(plan, local_user()) for _ in range(40)]
    barrier = threading.Barrier(2)

    def sweep():
        barrier.wait()
        return enqueue_pending()

    (t1, out1), (t2, out2) = in_thread(sweep), in_thread(sweep)
    t1.join(30)
    t2.join(30)
    assert "error" not in out1 and "error" not in out2, (out1, out2)
    assert out1["value"] + out2["value"] == len(jobs)
    deferred = [row["args"]["job_pk"] for row in queue_rows("run_flows_job")]
    assert sorted(deferred) == sorted(job.pk for job in jobs)
    assert Job.objects.filter(enqueued_at__isnull=True).count() == 0


@contextlib.contextmanager
def job_created_in_an_open_transaction(plan, user) -> Iterator[dict]:
    """Another connection creates a job and holds its transaction open inside the block
    (the yielded dict's "job"); it commits when the block ends."""
    created = threading.Event()
    release = threading.Event()
    shared: dict = {}

    def create():
        with transaction.atomic():
            shared["job"] = services.create_job(plan=plan, steps=plan.steps.all(), user=user)
            created.set()
            release.wait(30)

    thread, out = in_thread(create)
    try:
        assert created.wait(10)
        yield shared
    finally:
        release.set()
        thread.join(10)
    if "error" in out:
        raise out["error"]


def test_job_and_steps_are_invisible_to_the_enqueuer_until_committed():
    """The job, its steps and its enqueuer deferral commit together (no run without steps)."""
    plan = publish_plan()
    with job_created_in_an_open_transaction(plan, local_user()) as created:
        assert enqueue_pending() == 0
        assert queue_rows("enqueuer_job") == []
    job = created["job"]
    assert enqueue_pending() == 1
    assert set(Job.objects.get(pk=job.pk).steps.values_list("pk", flat=True)) == set(
        plan.steps.values_list("pk", flat=True)
    )


def test_enqueue_jobs_schedule_runs_the_enqueuer_sweep():
    periodic = {p.periodic_id: p for p in app.periodic_registry.periodic_tasks.values()}
    assert periodic["enqueue_jobs"].task.name == "enqueuer_job"
    assert periodic["enqueue_jobs"].task.queue == "short"
    job = Job.objects.create(plan=publish_plan(), org_id="00Dsweep0000000001")
    # What the schedule defers: the sweep, with procrastinate's timestamp argument.

    taskdefs.enqueuer_job.defer(timestamp=0)
    run_worker_until_idle(queues=("short",))
    assert Job.objects.get(pk=job.pk).enqueued_at is not None


def test_queued_runs_do_not_hold_back_short_tasks():
    """With every slot taken, the next free one goes to a waiting short task (enqueuer,
    maintenance) before the next plan run."""
    from plandeploy.jobs.models import PingRecord

    plan = publish_plan()
    jobs = [new_job(plan, local_user()) for _ in range(2)]
    enqueue_pending()
    taskdefs.ping.defer(token="after-the-runs")
    run_worker_until_idle(queues=("default", "short"), concurrency=1)
    pinged = PingRecord.objects.get(token="after-the-runs").received_at
    started = [Job.objects.get(pk=job.pk).started_at for job in jobs]
    assert all(at is not None and pinged < at for at in started)


def waiting_enqueuers() -> list[dict]:
    return [row for row in queue_rows("enqueuer_job") if row["status"] == "todo"]


def enqueuers_for(jobs) -> list[str]:
    """The statuses of the enqueuer_jobs deferred for any of `jobs` (not the sweep's)."""
    pks = {job.pk for job in jobs}
    return [row["status"] for row in queue_rows("enqueuer_job")
            if row["args"].get("job_pk") in pks]


def test_jobs_created_while_an_enqueuer_waits_share_it():
    """A burst of new runs costs one enqueuer task: later jobs join the waiting one."""
    plan = publish_plan()
    jobs = [new_job(plan, local_user()) for _ in range(3)]
    assert [row["args"] for row in waiting_enqueuers()] == [{"job_pk": jobs[0].pk}]
    run_worker_until_idle(queues=("short",))
    assert Job.objects.filter(pk__in=[j.pk for j in jobs], enqueued_at__isnull=True).count() == 0
    assert len(queue_rows("run_flows_job")) == 3


def test_a_new_enqueuer_is_deferred_once_the_waiting_one_has_run():
    first = new_job()
    run_worker_until_idle(queues=("short",))
    second = new_job()
    assert [row["args"] for row in waiting_enqueuers()] == [{"job_pk": second.pk}]
    run_worker_until_idle(queues=("short",))
    assert Job.objects.filter(pk__in=[first.pk, second.pk], enqueued_at__isnull=True).count() == 0


def test_a_joined_enqueuer_cannot_start_before_the_joining_job_commits():
    """The joining transaction locks the waiting enqueuer: a worker that fetches meanwhile
    passes over it, and runs it (seeing the new job) once that transaction has committed."""
    plan = publish_plan()
    first = new_job(plan)
    with job_created_in_an_open_transaction(plan, local_user()) as created:
        # Joined: no enqueuer of its own was deferred for the second job.
        assert enqueuers_for([first, created["job"]]) == ["todo"]
        run_worker_until_idle(queues=("short",))
        # The worker could not take the locked enqueuer. (The in-process worker may also
        # have deferred the `enqueue_jobs` sweep: that one is a separate task.)
        assert enqueuers_for([first, created["job"]]) == ["todo"]
    second = created["job"]
    run_worker_until_idle(queues=("short",))
    assert "todo" not in enqueuers_for([first, second])  # ran (finished rows are deleted)
    assert Job.objects.filter(pk__in=[first.pk, second.pk], enqueued_at__isnull=True).count() == 0


def test_an_enqueuer_takes_every_waiting_job_batch_by_batch(monkeypatch):
    monkeypatch.setattr(enqueue, "SWEEP_BATCH", 4)
    plan = publish_plan()
    with transaction.atomic():
        jobs = [new_job(plan, local_user()) for _ in range(10)]
    assert len(waiting_enqueuers()) == 1
    assert enqueue_pending() == 10
    assert Job.objects.filter(pk__in=[j.pk for j in jobs], enqueued_at__isnull=True).count() == 0


def last_queue_analyze():
    return queue_row_helpers.last_analyze()


def test_a_big_batch_refreshes_the_queue_statistics(monkeypatch):
    """procrastinate's fetch is planned from them: stale ones made it sort the whole queue."""
    monkeypatch.setattr(enqueue, "ANALYZE_QUEUE_AFTER", 3)
    plan = publish_plan()
    new_job(plan, local_user())
    before = last_queue_analyze()
    assert enqueue_pending() == 1  # a small batch: no ANALYZE
    assert last_queue_analyze() == before
    for _ in range(3):
        new_job(plan, local_user())
    assert enqueue_pending() == 3
    after = last_queue_analyze()
    assert after is not None and (before is None or after > before)
