"""Named schedules: defaults, CRON_SCHEDULE overrides, and what the worker registers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from plandeploy.schedules import DEFAULT_SCHEDULES, ScheduleError, resolve_schedules
from plandeploy.testing.processes import REPO_ROOT, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_defaults_are_the_documented_frequencies():
    schedules = resolve_schedules("")
    assert schedules["cleanup_user_data"] == "* * * * *"
    assert schedules["expire_preflight_results"] == "* * * * *"
    assert schedules["calculate_average_plan_runtimes"] == "0 0 * * *"


def test_override_and_disable():
    schedules = resolve_schedules(
        json.dumps({"cleanup_user_data": None, "expire_preflight_results": "*/5 * * * *"})
    )
    assert schedules["cleanup_user_data"] is None
    assert schedules["expire_preflight_results"] == "*/5 * * * *"
    assert schedules["calculate_average_plan_runtimes"] == DEFAULT_SCHEDULES[
        "calculate_average_plan_runtimes"
    ]


@pytest.mark.parametrize(
    "raw, named",
    [
        ('{"no_such_job": null}', "'no_such_job'"),
        ('{"cleanup_user_data": "every minute"}', "'cleanup_user_data'"),
        ('{"cleanup_user_data": 5}', "'cleanup_user_data'"),
        ("[1, 2]", "JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_cron_schedule_names_the_problem(raw, named):
    with pytest.raises(ScheduleError, match=named):
        resolve_schedules(raw)


def _registered_periodic(cron_schedule: str) -> subprocess.CompletedProcess:
    script = (
        "import json, django; django.setup();"
        "from procrastinate.contrib.django import app;"
        "tasks = app.periodic_registry.periodic_tasks.values();"
        "print(json.dumps({t.periodic_id: t.cron for t in tasks}))"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        env=subprocess_env(
            CRON_SCHEDULE=cron_schedule, DJANGO_SETTINGS_MODULE="plandeploy.settings"
        ),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )


def test_registered_periodic_tasks_follow_settings_and_override():
    default = _registered_periodic("")
    assert default.returncode == 0, default.stderr
    registered = json.loads(default.stdout.strip().splitlines()[-1])
    for name, cron in registered.items():
        assert cron == DEFAULT_SCHEDULES[name]

    name = "cleanup_user_data"
    override = _registered_periodic(json.dumps({name: "*/7 * * * *"}))
    overridden = json.loads(override.stdout.strip().splitlines()[-1])
    # The maintenance jobs are registered under their schedule names, so the override must bite.
    assert {"cleanup_user_data", "expire_preflight_results",
            "calculate_average_plan_runtimes"} <= set(registered)
    assert overridden[name] == "*/7 * * * *"
    assert {key: cron for key, cron in overridden.items() if key != name} == {
        key: cron for key, cron in registered.items() if key != name}

    disabled = _registered_periodic(json.dumps({name: None}))
    assert name not in json.loads(disabled.stdout.strip().splitlines()[-1])


def test_worker_refuses_to_start_on_unknown_schedule_name():
    result = subprocess.run(
        [sys.executable, "-m", "plandeploy.cli", "worker"],
        env=subprocess_env(CRON_SCHEDULE='{"cleanup_user_dta": "* * * * *"}'),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "unknown schedule 'cleanup_user_dta'" in result.stdout + result.stderr
