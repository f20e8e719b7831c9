"""Workspaces are stored relative to LOCAL_ORGS_ROOT, and a host whose LOCAL_ORGS_ROOT is not
the shared one is refused at start-up with a clear error."""

from __future__ import annotations

import pytest

from plandeploy.accounts.services import connect_local_org
from plandeploy.catalog.tests import factories
from plandeploy.orgs import workspaces
from plandeploy.runs.execution.loaders import load_run
from plandeploy.runs.execution.spec import org_input
from plandeploy.runs.models import Job, SharedDirectory
from plandeploy.runs.services import create_job
from plandeploy.runs.shared_storage import (
    MARKER_FILE,
    SharedDirectoryError,
    check_shared_directories,
)
from plandeploy.runs.tests.factories import publish_plan

pytestmark = pytest.mark.django_db


def test_a_connected_local_org_is_found_below_each_hosts_own_root(settings, tmp_path):
    settings.LOCAL_ORGS_ROOT = tmp_path / "web-host-mount"
    user = factories.user(connected=False)
    row = connect_local_org(user, "Org")
    assert row.workspace == row.org_id  # relative: no host's mount point in the row
    assert (tmp_path / "web-host-mount" / row.org_id).is_dir()
    plan = publish_plan()
    job = create_job(plan=plan, steps=plan.steps.all(), user=user)
    # The worker host mounts the same storage elsewhere.
    settings.LOCAL_ORGS_ROOT = tmp_path / "worker-host-mount"
    org = org_input(load_run(Job, job.pk))
    assert org.workspace == str(tmp_path / "worker-host-mount" / row.org_id)


def test_absolute_paths_of_earlier_rows_and_paths_outside_the_root(settings, tmp_path):
    settings.LOCAL_ORGS_ROOT = tmp_path
    assert workspaces.resolve("/elsewhere/00Dx") == workspaces.Path("/elsewhere/00Dx")
    assert workspaces.resolve("../escape") is None
    assert workspaces.resolve("") is None
    assert workspaces.stored(tmp_path / "scratch" / "00Dy") == "scratch/00Dy"
    assert workspaces.stored(workspaces.Path("/other/00Dz")) == "/other/00Dz"


def test_the_first_host_marks_the_root_and_a_host_with_another_directory_is_refused(
    settings, tmp_path
):
    SharedDirectory.objects.all().delete()
    shared = tmp_path / "shared"
    settings.LOCAL_ORGS_ROOT = shared
    check_shared_directories()
    marker = (shared / MARKER_FILE).read_text()
    assert SharedDirectory.objects.get(setting="LOCAL_ORGS_ROOT").marker == marker
    check_shared_directories()  # a second host on the same storage
    settings.LOCAL_ORGS_ROOT = tmp_path / "private"
    with pytest.raises(SharedDirectoryError) as refused:
        check_shared_directories()
    assert "LOCAL_ORGS_ROOT" in str(refused.value) and "private" in str(refused.value)
    assert "docs/deploy.md" in str(refused.value)


def test_a_new_database_adopts_the_directorys_marker(settings, tmp_path):
    settings.LOCAL_ORGS_ROOT = tmp_path
    (tmp_path / MARKER_FILE).write_text("0123abcd")
    SharedDirectory.objects.all().delete()
    check_shared_directories()
    assert SharedDirectory.objects.get(setting="LOCAL_ORGS_ROOT").marker == "0123abcd"


def test_an_unusable_root_is_a_clear_error(settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.LOCAL_ORGS_ROOT = blocker / "orgs"
    with pytest.raises(SharedDirectoryError, match="LOCAL_ORGS_ROOT .* cannot be created"):
        check_shared_directories()
