"""Fixtures and helpers for flowrunner tests: one warm FlowRunner per session, sample-product
specs, and readers of the events and processes a run leaves."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plandeploy.bootstrap import SAMPLE_PRODUCT
from plandeploy.flowrunner import FlowRunner, OrgInput, RunSpec, StepInput

SAMPLE = SAMPLE_PRODUCT
ORG_ID = "00D1F0000009GpnUAE"
USERNAME = "admin@sample-org.example"


def sample_plan() -> dict[str, Any]:
    return json.loads((SAMPLE / "plan.json").read_text())["plans"][0]


def plan_steps() -> list[StepInput]:
    return [
        StepInput(
            step_id=f"step-{s['step_num']}",
            step_num=s["step_num"],
            name=s["name"],
            task_class=s["task_class"],
            task_config=s["task_config"],
            path=s["path"],
        )
        for s in sample_plan()["steps"]
    ]


def step(num: str, task_class: str, **options: Any) -> StepInput:
    return StepInput(
        step_id=f"step-{num}",
        step_num=num,
        name=f"Step {num}",
        task_class=task_class,
        task_config={"options": options},
    )


@pytest.fixture(scope="session")
def runner() -> Iterator[FlowRunner]:
    flow_runner = FlowRunner()
    # The forkserver (and so every run) inherits the environment at start(): plant worker-style
    # secrets to prove the run process drops them.
    planted = {"EXAMPLE_API_TOKEN": "tok-123", "PLANDEPLOY_TEST_SECRET": "s3cr3t"}
    saved = {k: os.environ.get(k) for k in planted}
    os.environ.update(planted)
    try:
        flow_runner.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    yield flow_runner
    flow_runner.stop()


@pytest.fixture
def make_spec(tmp_path: Path):
    workspace = tmp_path / "workspace"

    def make(
        steps: list[StepInput],
        kind: str = "flow",
        plan_checks: list[dict[str, Any]] | None = None,
        repo_dir: Path = SAMPLE,
        **kwargs: Any,
    ) -> RunSpec:
        return RunSpec(
            kind=kind,  # type: ignore[arg-type]
            repo_dir=str(repo_dir),
            steps=steps,
            plan_checks=plan_checks or [],
            org=OrgInput("local", ORG_ID, workspace=str(workspace), username=USERNAME),
            home_dir=str(tmp_path / "home"),
            **kwargs,
        )

    make.workspace = workspace  # type: ignore[attr-defined]
    return make


def collect(runner: FlowRunner, spec, **kwargs):
    events: list[object] = []
    result = runner.run(spec, on_event=events.append, **kwargs)
    return result, events


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def all_text(events) -> str:
    parts = []
    for e in events:
        for value in vars(e).values():
            parts.append(json.dumps(value, default=str))
    return "\n".join(parts)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def pids_running(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if needle in cmdline and alive(int(entry.name)):
                found.append(int(entry.name))
    return found
