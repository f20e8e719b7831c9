"""Fixtures for flowrunner tests: one warm FlowRunner per session and sample-product specs."""

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
