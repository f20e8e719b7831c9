"""`plandeploy demo` end to end: its own web server and worker, the real HTTP API, twice."""

from __future__ import annotations

import subprocess
import sys

import pytest

from plandeploy.catalog.models import Plan
from plandeploy.runs.models import Job, PreflightResult, Status
from plandeploy.runs.tests.factories import clear_queue
from plandeploy.testing.processes import REPO_ROOT, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)


def run_demo() -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "plandeploy.cli", "demo"],
        env=subprocess_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=180,
    )


def test_demo_publishes_the_sample_and_installs_it_and_can_run_again():
    clear_queue()
    first = run_demo()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "the installation is complete" in first.stdout
    assert "4. Announce the installation" in first.stdout
    second = run_demo()
    assert second.returncode == 0, second.stdout + second.stderr
    # The second run reused the published plan and the demo org, and ran it again.
    assert Plan.objects.count() == 1
    jobs = list(Job.objects.order_by("created_at"))
    assert [job.status for job in jobs] == [Status.COMPLETE, Status.COMPLETE]
    assert len({job.org_id for job in jobs}) == 1
    assert PreflightResult.objects.filter(status=Status.COMPLETE).count() == 2
    assert "skipped" in second.stdout  # the core component was installed by the first run
    # Each run names its own job's page, on the address `plandeploy up` serves.
    plan = Plan.objects.get()
    for run, job in ((first, jobs[0]), (second, jobs[1])):
        assert job.is_public
        page = (f"http://127.0.0.1:8000/products/{plan.version.product.slug}/"
                f"{plan.version.label}/{plan.slug}/jobs/{job.hashid}/")
        assert f"the installation's page: {page}\n" in run.stdout
