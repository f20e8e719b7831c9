"""Builders for run tests: the sample product published through the ORM, users with local orgs."""

from __future__ import annotations

import copy
import json
import secrets
import string
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from plandeploy.accounts.models import FullOrgType, OrgConnection, OrgType, User
from plandeploy.bootstrap import SAMPLE_PRODUCT
from plandeploy.catalog.models import (
    Plan,
    PlanTemplate,
    Product,
    ProductCategory,
    Step,
    Version,
)

SAMPLE = SAMPLE_PRODUCT
_ALNUM = string.ascii_letters + string.digits


def sample_plan_data() -> dict[str, Any]:
    return json.loads((SAMPLE / "plan.json").read_text())["plans"][0]


def sample_steps() -> list[dict[str, Any]]:
    return copy.deepcopy(sample_plan_data()["steps"])


def step_data(num: str, task_class: str, checks: list | None = None, **options: Any) -> dict:
    return {
        "step_num": num,
        "name": f"Step {num}",
        "path": f"step_{num.replace('.', '_')}",
        "is_required": True,
        "task_class": task_class,
        "task_config": {"options": options, "checks": checks or []},
    }


def publish_plan(
    steps: list[dict[str, Any]] | None = None,
    preflight_checks: list[dict[str, Any]] | None = None,
    repo_url: str | None = None,
) -> Plan:
    """A product, version and plan with `steps` (default: the sample product's plan)."""
    data = sample_plan_data()
    category = ProductCategory.objects.create(title="Samples")
    product = Product.objects.create(
        category=category, title="Sample", repo_url=repo_url or str(SAMPLE)
    )
    version = Version.objects.create(product=product, label=secrets.token_hex(4), commit_ish="")
    template = PlanTemplate.objects.create(product=product, name="install")
    plan = Plan.objects.create(
        plan_template=template,
        version=version,
        title="Install",
        # Custom steps come without the sample's plan-level checks unless given some.
        preflight_checks=(
            preflight_checks if preflight_checks is not None
            else data["preflight_checks"] if steps is None else []
        ),
    )
    for step in sample_steps() if steps is None else steps:
        Step.objects.create(
            plan=plan,
            name=step["name"],
            step_num=step["step_num"],
            path=step.get("path", ""),
            is_required=step.get("is_required", True),
            task_class=step["task_class"],
            task_config=step.get("task_config", {}),
        )
    return plan


def org_id() -> str:
    return "00D" + "".join(secrets.choice(_ALNUM) for _ in range(15))


def local_user(username: str | None = None) -> User:
    """A user connected to a fresh local org (a workspace directory under LOCAL_ORGS_ROOT)."""
    user = User.objects.create(username=username or f"user-{secrets.token_hex(4)}")
    oid = org_id()
    workspace = Path(settings.LOCAL_ORGS_ROOT) / oid
    OrgConnection.objects.create(
        user=user,
        org_type=OrgType.LOCAL,
        org_id=oid,
        org_name="Local test org",
        organization_type="Developer Edition",
        full_org_type=FullOrgType.DEVELOPER,
        instance_url=workspace.as_uri(),
        org_username=f"{user.username}@local.example",
        workspace=str(workspace),
        access_token=secrets.token_urlsafe(24),
        token_created_at=timezone.now(),
    )
    return User.objects.get(pk=user.pk)


class EventListener:
    """LISTENs on the notify channel from its own connection and collects the payloads."""

    def __init__(self) -> None:
        import psycopg

        from plandeploy.runs.notify import CHANNEL
        from plandeploy.testing.processes import test_database_url

        self._conn = psycopg.connect(test_database_url(), autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")
        self.events: list[dict[str, Any]] = []

    def collect(self, timeout: float = 0.2) -> list[dict[str, Any]]:
        for note in self._conn.notifies(timeout=timeout, stop_after=None):
            self.events.append(json.loads(note.payload))
        return self.events

    def types(self, model: str | None = None, object_id: str | None = None) -> list[str]:
        self.collect()
        return [
            e["type"] for e in self.events
            if (model is None or e["model"] == model)
            and (object_id is None or e["id"] == object_id)
        ]

    def close(self) -> None:
        self._conn.close()


def clear_queue() -> None:
    """Empty the queue's tables: Django's flush between transactional tests skips them."""
    from plandeploy.tests import queue_rows

    queue_rows.clear_queue()
