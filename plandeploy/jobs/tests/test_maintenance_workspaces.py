"""A local org outlives its token, and cleanup_user_data removes workspaces nothing references."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from plandeploy.accounts import services as accounts
from plandeploy.accounts.models import OrgConnection, OrgType, User
from plandeploy.jobs.tests.maintenance_rows import job
from plandeploy.maintenance.services import run_cleanup_user_data
from plandeploy.orgs.workspaces import resolve
from plandeploy.runs.models import PreflightResult, Status
from plandeploy.runs.tests.factories import org_id, publish_plan

pytestmark = pytest.mark.django_db

TOKEN_LIFETIME = timedelta(minutes=settings.TOKEN_LIFETIME_MINUTES)
LONG_AGO = timedelta(days=settings.USER_RETENTION_DAYS + 1)


@pytest.fixture(autouse=True)
def orgs_root(tmp_path):
    """A LOCAL_ORGS_ROOT of this test's own, so other tests' workspaces are not in view."""
    with override_settings(LOCAL_ORGS_ROOT=str(tmp_path / "orgs")):
        yield tmp_path / "orgs"


def aged(path: Path, age: timedelta) -> Path:
    """Set the directory's modification time `age` in the past."""
    when = (timezone.now() - age).timestamp()
    os.utime(path, (when, when))
    return path


def connected_user(**fields) -> tuple[User, OrgConnection]:
    user = User.objects.create(username=f"u-{secrets.token_hex(4)}", **fields)
    return user, accounts.connect_local_org(user, "Mine")


def test_reconnecting_after_token_expiry_gets_the_same_org_and_workspace():
    now = timezone.now()
    user, first = connected_user(last_login=now)
    (resolve(first.workspace) / "installed.txt").write_text("from before")
    OrgConnection.objects.filter(pk=first.pk).update(token_created_at=now - TOKEN_LIFETIME)
    plan = publish_plan(steps=[], preflight_checks=[])
    before = PreflightResult.objects.create(plan=plan, org_id=first.org_id, user=user,
                                            status=Status.COMPLETE)

    counts = run_cleanup_user_data(now)

    assert counts["org_tokens_expired"] == 1
    expired = User.objects.get(pk=user.pk)
    assert expired.valid_token_for is None and expired.token == (None, None)
    again = accounts.connect_local_org(expired, None)
    assert (again.org_id, again.workspace) == (first.org_id, first.workspace)
    assert (resolve(again.workspace) / "installed.txt").read_text() == "from before"
    assert User.objects.get(pk=user.pk).valid_token_for == first.org_id
    # The preflight taken before the reconnect is on the user's org.
    assert before.org_id == User.objects.get(pk=user.pk).org_id


def test_a_deleted_users_workspace_is_removed_by_the_sweep():
    now = timezone.now()
    user, row = connected_user(last_login=now - LONG_AGO)
    workspace = aged(resolve(row.workspace), LONG_AGO)

    counts = run_cleanup_user_data(now)

    assert counts["users_deleted"] == 1 and counts["workspaces_removed"] == 1
    assert not User.objects.filter(pk=user.pk).exists()
    assert not workspace.exists()


def test_only_unreferenced_settled_workspaces_are_removed(orgs_root):
    now = timezone.now()
    plan = publish_plan(steps=[], preflight_checks=[])
    orphan = aged(_mkdir(orgs_root / org_id()), timedelta(days=2))
    _, kept_row = connected_user(last_login=now)
    referenced = aged(resolve(kept_row.workspace), timedelta(days=2))
    running_id = org_id()
    job(plan, org_id=running_id, status=Status.STARTED)
    running = aged(_mkdir(orgs_root / running_id), timedelta(days=2))
    fresh = _mkdir(orgs_root / org_id())
    scratch = aged(_mkdir(orgs_root / "scratch" / org_id()), timedelta(days=2))
    not_an_org = aged(_mkdir(orgs_root / "notes"), timedelta(days=2))

    counts = run_cleanup_user_data(now)

    assert counts["workspaces_removed"] == 1
    assert not orphan.exists()
    for path in (referenced, running, fresh, scratch, not_an_org):
        assert path.is_dir(), path
    assert OrgConnection.objects.get(pk=kept_row.pk).org_type == OrgType.LOCAL


def test_the_sweep_works_in_batches(orgs_root):
    orphans = [aged(_mkdir(orgs_root / org_id()), timedelta(days=2)) for _ in range(5)]
    counts = run_cleanup_user_data(timezone.now(), batch_size=2)
    assert counts["workspaces_removed"] == 5
    assert not any(path.exists() for path in orphans)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
