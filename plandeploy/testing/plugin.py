"""pytest plugin: give the test session a real PostgreSQL before Django connects.

Loaded with `-p plandeploy.testing.plugin` (pyproject addopts), so it is imported
before pytest-django reads the settings. With DATABASE_URL unset the session
starts the embedded PostgreSQL of a state directory of its own (PLANDEPLOY_HOME,
default `.plandeploy/test`) and stops it at the end if it started it.
"""

from __future__ import annotations

import os
from pathlib import Path

from plandeploy.testing import lift_rate_limits

os.environ.setdefault("PLANDEPLOY_HOME", str(Path(".plandeploy/test").resolve()))
os.environ["PLANDEPLOY_HOME"] = str(Path(os.environ["PLANDEPLOY_HOME"]).resolve())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plandeploy.settings")
# Test servers answer as 127.0.0.1, localhost and Django's test client host.
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("LOG_LEVEL", "WARNING")
lift_rate_limits()

_owned_database = None


def pytest_configure(config) -> None:
    global _owned_database
    if os.environ.get("DATABASE_URL"):
        return
    from plandeploy import embedded_db

    database = embedded_db.for_home(os.environ["PLANDEPLOY_HOME"])
    if database.start():
        _owned_database = database


def pytest_sessionstart(session) -> None:
    """Scratch workspaces on disk now belong to an earlier, aborted session: remove them."""
    from plandeploy.orgs import scratch

    stale = scratch.leftover_workspaces()
    for path in stale:
        scratch.remove(path)
    if stale:
        print(f"\nplandeploy: removed {len(stale)} scratch-org workspace(s) left by an "
              f"earlier test session under {scratch.scratch_root()}")


def pytest_sessionfinish(session, exitstatus) -> None:
    """Fail the run when a test left a scratch-org workspace behind (issue 5: nothing leaks)."""
    from plandeploy.orgs import scratch

    leaked = scratch.leftover_workspaces()
    if not leaked:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{len(leaked)} scratch-org workspace(s) leaked by this test session:",
             *(f"  {path}" for path in leaked)]
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "LEAKED SCRATCH-ORG WORKSPACES", red=True, bold=True)
        for line in lines:
            reporter.write_line(line, red=True)
    else:
        print("\n".join(lines))
    if session.exitstatus == 0:
        session.exitstatus = 1


def pytest_unconfigure(config) -> None:
    if _owned_database is not None:
        _owned_database.stop()
