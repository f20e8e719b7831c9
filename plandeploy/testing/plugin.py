"""pytest plugin: give the test session a real PostgreSQL before Django connects.

Loaded with `-p plandeploy.testing.plugin` (pyproject addopts), so it is imported
before pytest-django reads the settings. With DATABASE_URL unset the session
starts the embedded PostgreSQL of a state directory of its own (PLANDEPLOY_HOME,
default `.plandeploy/test`) and stops it at the end if it started it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plandeploy.testing import lift_rate_limits

os.environ.setdefault("PLANDEPLOY_HOME", str(Path(".plandeploy/test").resolve()))
os.environ["PLANDEPLOY_HOME"] = str(Path(os.environ["PLANDEPLOY_HOME"]).resolve())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plandeploy.settings")
# Test servers answer as 127.0.0.1, localhost and Django's test client host.
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("LOG_LEVEL", "WARNING")
lift_rate_limits()

_owned_database = None
_KEEP_TEST_DATA_OPTION = "--no-dump-check"


def pytest_addoption(parser) -> None:
    parser.addoption(_KEEP_TEST_DATA_OPTION, action="store_true",
                     help="skip the end-of-session check that a pg_dump of the test database "
                          "holds no secret in the clear (plandeploy.testing.at_rest)")


def _uses_database(item) -> bool:
    names = getattr(item, "fixturenames", ())
    return item.get_closest_marker("django_db") is not None or any(
        name in names for name in ("db", "transactional_db", "django_db_setup"))


@pytest.fixture(scope="session", autouse=True)
def _secrets_at_rest(request):
    """Keep a copy of every row the suite writes; at the end, dump and search it.

    Session-scoped so that it is set up before any module's servers write, and torn down
    after them but before the test database is put away. See plandeploy/testing/at_rest.py.
    """
    if request.config.getoption(_KEEP_TEST_DATA_OPTION) or not any(
            _uses_database(item) for item in request.session.items):
        yield None
        return
    from django.db import connection

    from plandeploy.testing import at_rest, processes

    request.getfixturevalue("django_db_setup")
    blocker = request.getfixturevalue("django_db_blocker")
    with blocker.unblock():
        keeper = at_rest.Keeper(processes.test_database_url())
        with connection.cursor() as cursor:
            at_rest.install(cursor)
        connection.close()
    at_rest.collect_from_saves()
    try:
        yield keeper
        with blocker.unblock():
            try:
                at_rest.COLLECTED.findings = at_rest.check_dump(keeper)
            finally:
                at_rest.uninstall(keeper)
    finally:
        keeper.close()


@pytest.fixture(autouse=True)
def _keep_rows_before_rollback(request, _secrets_at_rest):
    """A test in a transaction that is rolled back: its written rows are kept first."""
    if _secrets_at_rest is None or not _uses_database(request.node):
        yield
        return
    from plandeploy.testing import at_rest

    request.getfixturevalue("_django_db_helper")  # set up first, so torn down after this
    marker = request.node.get_closest_marker("plants_secrets")
    planted = list(marker.args) if marker is not None else []
    first_row = at_rest.last_row_id(_secrets_at_rest) if planted else 0
    yield
    from django.db import connection

    if connection.in_atomic_block and connection.connection is not None:
        from django.db import DatabaseError

        try:
            with connection.cursor() as cursor:
                rows = at_rest.rows_of_this_transaction(cursor, planted)
        except DatabaseError:  # a test that broke its transaction: nothing more to read
            rows = []
        try:
            at_rest.keep(_secrets_at_rest, rows)
        except Exception as error:
            at_rest.COLLECTED.unkept.append(f"{request.node.nodeid}: {error}")
    elif planted:
        at_rest.forget_rows(_secrets_at_rest, planted, after=first_row)


def pytest_configure(config) -> None:
    global _owned_database
    config.addinivalue_line(
        "markers", "plants_secrets(*tables): the test itself writes a secret in the clear into "
        "these tables on purpose (rows as an old version stored them, product data that "
        "embeds one to prove the scrubbing); the end-of-session dump check leaves out its "
        "rows of those tables")
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
    """Fail the run when a test left a scratch-org workspace behind, or when the dump of the
    test database held a secret in the clear."""
    from plandeploy.orgs import scratch
    from plandeploy.testing import at_rest

    leaked = scratch.leftover_workspaces()
    if leaked:
        _fail(session, "LEAKED SCRATCH-ORG WORKSPACES",
              [f"{len(leaked)} scratch-org workspace(s) leaked by this test session:",
               *(f"  {path}" for path in leaked)])
    collected = at_rest.COLLECTED
    if collected.findings or collected.unkept:
        _fail(session, "SECRETS IN THE CLEAR IN THE TEST DATABASE'S DUMP",
              [f"  {finding}" for finding in collected.findings]
              + [f"  rows not kept for the check: {test}" for test in collected.unkept])
    elif collected.rows_checked:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"\nplandeploy: pg_dump of the test database ({collected.rows_checked} rows "
                f"written by the suite) holds none of {len(collected.secrets)} secrets "
                f"and {len(collected.org_ids)} org ids")


def _fail(session, title: str, lines: list[str]) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", title, red=True, bold=True)
        for line in lines:
            reporter.write_line(line, red=True)
    else:
        print("\n".join(lines))
    if session.exitstatus == 0:
        session.exitstatus = 1


def pytest_unconfigure(config) -> None:
    if _owned_database is not None:
        _owned_database.stop()
