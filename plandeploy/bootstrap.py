"""Process start-up shared by the commands: state directory, database, Django and migrations."""

from __future__ import annotations

import atexit
import os
import time
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from plandeploy import embedded_db
from plandeploy.pids import process_is_alive

# The sample product ships inside the package so that an installed `plandeploy demo` finds it.
# Where `plandeploy up` and `web` listen unless told otherwise (the demo's links point there).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# How long a starting process waits for a database that is restarting (see prepare_database).
DEFAULT_DATABASE_WAIT_SECONDS = 60
# Set by the process that started the embedded PostgreSQL, for the processes it starts.
EMBEDDED_OWNER_VARIABLE = "PLANDEPLOY_EMBEDDED_DB_OWNER"
SAMPLE_PRODUCT = Path(str(resources.files("plandeploy") / "sample_product"))


class CommandError(Exception):
    """A failure the user can act on; printed without a traceback, exit code 2."""


def say(message: str) -> None:
    print(f"plandeploy: {message}", flush=True)


def home() -> Path:
    """The state directory (PLANDEPLOY_HOME, default ./.plandeploy), made absolute."""
    path = Path(os.environ.get("PLANDEPLOY_HOME", ".plandeploy")).resolve()
    # Children and later imports of settings must agree on one absolute state directory.
    os.environ["PLANDEPLOY_HOME"] = str(path)
    return path


def prepare_database(*, progress: bool = True) -> bool:
    """Make the database reachable before Django starts; True if this process started it.

    A database that is restarting (shutting down, starting up, not yet listening) is waited
    for up to DATABASE_WAIT_SECONDS: a worker or web process that a supervisor restarts while
    PostgreSQL restarts would otherwise exit at once and stay down until restarted again.
    """
    url = os.environ.get("DATABASE_URL", "")
    database = None if url else embedded_db.for_home(home())
    wait = float(os.environ.get("DATABASE_WAIT_SECONDS", DEFAULT_DATABASE_WAIT_SECONDS))
    deadline = time.monotonic() + wait
    started = False
    if database is not None and not _owner_is_alive(database):
        try:
            started = database.start(progress=say if progress else (lambda _m: None))
        except embedded_db.EmbeddedDatabaseError as exc:
            raise CommandError(str(exc)) from exc
        if started:
            # This process owns the server: it stops it on the way out, others only attach.
            # Its children (the processes `up` supervises) learn so from the environment and
            # never start it themselves, even while it restarts.
            atexit.register(database.stop)
            os.environ[EMBEDDED_OWNER_VARIABLE] = f"{os.getpid()}:{database.pgdata}"
    # An embedded server found restarting is left to whoever restarts it: starting it here
    # would make this process its owner, and its exit would stop everyone's database.
    said_waiting = False
    while True:
        try:
            _connect_once(url or database.url())
            return started
        except psycopg.OperationalError as exc:
            reason = _one_line(exc)
            if not _is_transient(reason) or time.monotonic() >= deadline:
                raise CommandError(f"cannot reach the database at {_where(url, database)}"
                                   f"{' (from DATABASE_URL)' if url else ''}: {reason}") from None
            if not said_waiting:
                say(f"waiting up to {wait:g} s for the database at {_where(url, database)}: "
                    f"{reason}")
                said_waiting = True
            time.sleep(0.5)


def _owner_is_alive(database: embedded_db.EmbeddedDatabase) -> bool:
    """True when another live process started this embedded server (see prepare_database)."""
    pid_text, _, pgdata = os.environ.get(EMBEDDED_OWNER_VARIABLE, "").partition(":")
    if pgdata != str(database.pgdata) or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    return pid != os.getpid() and process_is_alive(pid)


# Failures that end by themselves when a server restarts; anything else (a wrong password,
# a missing database, an unknown host) is reported at once.
_TRANSIENT_FAILURES = ("connection refused", "no such file or directory",
                       "the database system is", "timeout expired",
                       "server closed the connection")


def _is_transient(reason: str) -> bool:
    lowered = reason.lower()
    return any(failure in lowered for failure in _TRANSIENT_FAILURES)


def _connect_once(url: str) -> None:
    with psycopg.connect(url, connect_timeout=5):
        pass


def _one_line(exc: Exception) -> str:
    reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return reason or type(exc).__name__


def _where(url: str, database: embedded_db.EmbeddedDatabase | None) -> str:
    if database is not None:
        return f"the embedded PostgreSQL ({database.socket_dir})"
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def setup_django() -> None:
    """django.setup() with plandeploy's settings; a configuration error becomes CommandError."""
    home()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plandeploy.settings")
    # Django reads the settings at setup, so it is imported only once the environment is final.
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:
        raise CommandError(f"configuration error: {exc}") from None


# Times a starting process checks the shared directories while the database goes away.
SHARED_STORAGE_ATTEMPTS = 3


def check_shared_storage() -> None:
    """Refuse to start (CommandError) when a directory every host must share is not shared.

    The database may go away between prepare_database and the check (a restart just then):
    the process waits for it again instead of exiting with a traceback.
    """
    from django.db import InterfaceError, OperationalError, connection

    from plandeploy.runs.shared_storage import SharedDirectoryError, check_shared_directories

    for attempt in range(1, SHARED_STORAGE_ATTEMPTS + 1):
        try:
            check_shared_directories()
            return
        except SharedDirectoryError as exc:
            raise CommandError(str(exc)) from None
        except (OperationalError, InterfaceError) as exc:
            if attempt == SHARED_STORAGE_ATTEMPTS:
                raise CommandError(f"cannot check the shared directories: the database "
                                   f"failed {attempt} times ({_one_line(exc)})") from None
            say(f"checking the shared directories failed ({_one_line(exc)}); "
                "waiting for the database")
            connection.close()
            time.sleep(attempt)  # a server shutting down may still accept a connection
            prepare_database(progress=False)


def pending_migrations() -> list:
    """The migrations not yet applied to the database, in the order migrate would apply them."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    return executor.migration_plan(executor.loader.graph.leaf_nodes())


def migrate(verbose: bool) -> None:
    """Apply the pending migrations, saying so only when there are some."""
    from django.core.management import call_command

    pending = pending_migrations()
    if pending:
        say(f"applying {len(pending)} database migrations ...")
        call_command("migrate", interactive=False, verbosity=1 if verbose else 0)
        say("migrations applied")


def start(*, progress: bool = True, verbose_migrate: bool = False) -> None:
    """Everything a command that uses the database does first: settings, database, migrate."""
    setup_django()
    prepare_database(progress=progress)
    migrate(verbose=verbose_migrate)
