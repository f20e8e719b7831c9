"""End-to-end tests of FlowRunner against the sample product (real CumulusCI, local org)."""

from __future__ import annotations

import json
import os
import sys
import time

from plandeploy.flowrunner import (
    FlowFinished,
    PreflightResults,
    StepFinished,
    StepLog,
    StepStarted,
)
from plandeploy.flowrunner.tests.conftest import (
    ORG_ID,
    USERNAME,
    all_text,
    collect,
    of,
    pids_running,
    plan_steps,
    sample_plan,
    step,
)

WAIT = "tasks.wait.Wait"
INSTALL = "tasks.components.InstallComponent"
COMMAND = "cumulusci.tasks.command.Command"


def test_plan_runs_with_per_step_events(runner, make_spec) -> None:
    spec = make_spec(plan_steps())
    result, events = collect(runner, spec)
    assert result.outcome == "complete", result
    ids = [s.step_id for s in spec.steps]
    assert [e.step_id for e in of(events, StepStarted)] == ids
    assert [(e.step_id, e.status) for e in of(events, StepFinished)] == [(i, "ok") for i in ids]
    assert events[-1] == FlowFinished("complete", None)
    # Each step's logs arrive between its StepStarted and StepFinished.
    position = {id(e): n for n, e in enumerate(events)}
    for sid in ids:
        start = next(position[id(e)] for e in of(events, StepStarted) if e.step_id == sid)
        end = next(position[id(e)] for e in of(events, StepFinished) if e.step_id == sid)
        logs = [e for e in of(events, StepLog) if e.step_id == sid]
        assert logs and all(start < position[id(e)] < end for e in logs)
    workspace = make_spec.workspace
    assert json.loads((workspace / "manifest.json").read_text()) == {"core": "1.0"}
    assert "plandeploy-sample installed" in all_text(events)
    # The tasks log the org id and CumulusCI logs the username: both scrubbed in the child.
    text = all_text(events)
    assert ORG_ID[:15] not in text and USERNAME not in text
    assert "<redacted>" in text


def test_failing_step_stops_the_flow_with_a_scrubbed_error(runner, make_spec) -> None:
    steps = plan_steps()
    steps[1].task_config = {"options": {"fail": True}}
    result, events = collect(runner, make_spec(steps))
    assert result.outcome == "failed"
    assert [e.step_id for e in of(events, StepStarted)] == ["step-1", "step-2"]
    finished = of(events, StepFinished)
    assert finished[-1].status == "error"
    assert finished[-1].message.startswith("SampleTaskError: ConfigureSettings failed")
    assert ORG_ID[:15] not in finished[-1].message
    assert events[-1].outcome == "failed"
    assert events[-1].error == finished[-1].message == result.error


def test_skipped_steps_emit_nothing(runner, make_spec) -> None:
    steps = plan_steps()
    steps[2].skip = True
    result, events = collect(runner, make_spec(steps))
    assert result.outcome == "complete"
    assert [e.step_id for e in of(events, StepStarted)] == ["step-1", "step-2", "step-4"]
    assert not (make_spec.workspace / "data").exists()


def test_unknown_task_class_fails_readably(runner, make_spec) -> None:
    result, _ = collect(runner, make_spec([step("1", "tasks.nope.Missing")]))
    assert result.outcome == "failed"
    assert "Cannot load task class 'tasks.nope.Missing'" in result.error


def test_cancel_between_steps(runner, make_spec) -> None:
    started: list[str] = []
    events: list[object] = []

    def on_event(event: object) -> None:
        events.append(event)
        if isinstance(event, StepStarted):
            started.append(event.step_id)

    spec = make_spec([step("1", WAIT, seconds=0.6), step("2", INSTALL, name="core")])
    t0 = time.monotonic()
    result = runner.run(spec, on_event=on_event, should_cancel=lambda: bool(started))
    assert result.outcome == "canceled" and result.error is None
    assert time.monotonic() - t0 < 3
    assert started == ["step-1"]
    assert of(events, StepFinished) == [StepFinished("step-1", "ok", None)]
    assert not (make_spec.workspace / "manifest.json").exists()


def test_cancel_during_a_long_step_kills_it_after_the_grace(runner, make_spec) -> None:
    marker = "37.4242"
    started: list[str] = []
    spec = make_spec([step("1", COMMAND, command=f"sleep {marker}"), step("2", WAIT)])
    t0 = time.monotonic()
    result = runner.run(
        spec,
        on_event=lambda e: started.append(e) if isinstance(e, StepStarted) else None,
        should_cancel=lambda: bool(started),
        cancel_grace=0.5,
    )
    assert result.outcome == "canceled"
    assert "did not finish" in result.error
    assert time.monotonic() - t0 < 5
    # The whole process group went, including the step's own subprocess.
    assert pids_running(f"sleep {marker}") == []


def test_timeout_kills_the_run(runner, make_spec) -> None:
    spec = make_spec([step("1", WAIT, seconds=30)])
    t0 = time.monotonic()
    result, events = collect(runner, spec, timeout=1.0)
    assert result.outcome == "timeout"
    assert "time limit" in result.error
    assert time.monotonic() - t0 < 5
    assert of(events, StepStarted) and not of(events, FlowFinished)


def test_preflight_results_keyed_by_step_id(runner, make_spec) -> None:
    plan = sample_plan()
    checks = plan["preflight_checks"] + [
        {"when": "org_config.org_id.startswith('00D')", "action": "warn", "message": "Hi"},
        {"when": "False", "action": "error", "message": "never"},
    ]
    steps = plan_steps()
    steps[1].task_config = {
        "checks": [
            {"when": "True", "action": "error", "message": f"Org {ORG_ID} is not ready"},
        ]
    }
    # First, a fresh org: nothing installed yet.
    result, events = collect(runner, make_spec(steps, kind="preflight", plan_checks=checks))
    assert result.outcome == "complete", result
    (results,) = of(events, PreflightResults)
    assert results.results == {
        "plan": [{"status": "warn", "message": "Hi"}],
        "step-2": [{"status": "error", "message": "Org <redacted> is not ready"}],
    }
    # Preflight runs no steps.
    assert not of(events, StepStarted)


def test_preflight_sees_installed_components(runner, make_spec) -> None:
    plan = sample_plan()
    result, _ = collect(runner, make_spec(plan_steps()))
    assert result.outcome == "complete"
    result, events = collect(
        runner, make_spec(plan_steps(), kind="preflight", plan_checks=plan["preflight_checks"])
    )
    (results,) = of(events, PreflightResults)
    assert results.results["plan"][0]["status"] == "warn"
    assert results.results["step-1"] == [
        {"status": "skip", "message": "Core 1.0 is already installed."}
    ]


def test_preflight_exception_fails(runner, make_spec) -> None:
    checks = [{"when": "tasks.no_such_task()", "action": "error", "message": "x"}]
    result, events = collect(runner, make_spec([], kind="preflight", plan_checks=checks))
    assert result.outcome == "failed"
    assert "no_such_task" in result.error
    assert not of(events, PreflightResults)


def test_log_lines_are_batched(runner, make_spec) -> None:
    spec = make_spec([step("1", "tasks.data.LoadData", count=1000)], log_flush_seconds=0.5)
    result, events = collect(runner, spec)
    assert result.outcome == "complete"
    batches = [e for e in of(events, StepLog) if e.step_id == "step-1"]
    assert 1 <= len(batches) <= 3
    text = "\n".join(b.text for b in batches)
    assert text.count("Loaded Account record") == 1000


def test_cumulusci_side_effects_stay_in_the_child(runner, make_spec) -> None:
    cwd, path, home = os.getcwd(), list(sys.path), os.environ.get("HOME")
    tasks_module = sys.modules.get("tasks")
    spec = make_spec([*plan_steps(), step("9", COMMAND, command='echo "home=$HOME"')])
    result, events = collect(runner, spec)
    assert result.outcome == "complete"
    assert (os.getcwd(), sys.path, os.environ.get("HOME")) == (cwd, path, home)
    assert sys.modules.get("tasks") is tasks_module
    # The run had its own HOME (where CumulusCI keeps per-user state), although its project
    # process loaded the project before the run was known.
    assert f"home={spec.home_dir}" in all_text(events)


def test_worker_environment_secrets_do_not_reach_steps(runner, make_spec) -> None:
    # The `runner` fixture planted EXAMPLE_API_TOKEN and PLANDEPLOY_TEST_SECRET before start().
    result, events = collect(runner, make_spec([step("1", COMMAND, command="env")]))
    assert result.outcome == "complete"
    text = all_text(events)
    assert "HOME=" in text
    assert "EXAMPLE_API_TOKEN" not in text and "PLANDEPLOY_TEST_SECRET" not in text


