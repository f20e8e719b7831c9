"""Builders shared by the scratch-org tests: scratch plans of the sample product, git products."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from plandeploy import queue
from plandeploy.catalog.models import Plan, SupportedOrgs
from plandeploy.orgs import scratch
from plandeploy.orgs import workspaces as workspaces_module
from plandeploy.runs.models import ScratchOrg
from plandeploy.runs.tests.factories import SAMPLE, publish_plan, sample_plan_data, sample_steps
from plandeploy.testing.processes import run_worker_until_idle

EMAIL = "admin@example.com"
FAIL_STEP = {
    "step_num": "1", "name": "Broken install", "path": "broken", "is_required": True,
    "task_class": "tasks.components.InstallComponent",
    "task_config": {"options": {"name": "core", "fail": True}, "checks": []},
}
ERROR_CHECK = {"when": "True", "action": "error", "message": "This org cannot take the product."}


def scratch_plan(
    *,
    all_required: bool = True,
    steps: list[dict[str, Any]] | None = None,
    preflight_checks: list[dict[str, Any]] | None = None,
    repo_url: str | None = None,
    **fields: Any,
) -> Plan:
    """The sample product's plan offered for scratch orgs.

    all_required=False keeps the sample's optional step 3 (no auto-install); the sample's
    plan-level checks stay unless `preflight_checks` replaces them.
    """
    if steps is None:
        steps = sample_steps()
        if all_required:
            for step in steps:
                step["is_required"] = True
    if preflight_checks is None:
        preflight_checks = sample_plan_data()["preflight_checks"]
    plan = publish_plan(steps=steps, preflight_checks=preflight_checks, repo_url=repo_url)
    Plan.objects.filter(pk=plan.pk).update(supported_orgs=SupportedOrgs.SCRATCH, **fields)
    return Plan.objects.get(pk=plan.pk)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    )
    return done.stdout.strip()


def git_product(root: Path, definitions: list[str | None]) -> tuple[Path, list[str]]:
    """A git copy of the sample product with one commit per org definition text (None: no
    orgs/release.json in that commit). Returns the repository and the commit shas."""
    repo = root / "product"
    shutil.copytree(SAMPLE, repo, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "--quiet", "-b", "main")
    shas = []
    for index, text in enumerate(definitions):
        definition = repo / "orgs" / "release.json"
        if text is None:
            definition.unlink(missing_ok=True)
        else:
            definition.parent.mkdir(exist_ok=True)
            definition.write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "--quiet", "--allow-empty", "-m", f"commit {index}")
        shas.append(git(repo, "rev-parse", "HEAD"))
    return repo, shas


def definition(**settings: Any) -> str:
    return json.dumps({"edition": "Developer", "settings": settings})


def drain() -> None:
    """Run in-process workers until nothing waits on either queue (runs defer more runs)."""
    for _ in range(10):
        run_worker_until_idle(("default", "short"))
        if sum(queue.queue_length(name) for name in queue.QUEUES) == 0:
            return
    raise AssertionError("the queues did not drain")


def workspaces() -> set[Path]:
    return set(scratch.leftover_workspaces())


def workspace_of(org: ScratchOrg) -> Path:
    return workspaces_module.resolve(org.config["workspace"])
