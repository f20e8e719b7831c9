"""Process start-up shared by the commands: state directory, database, Django and migrations."""

from __future__ import annotations

import atexit
import os
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from plandeploy import embedded_db

# The sample product ships inside the package so that an installed `plandeploy demo` finds it.
# Where `plandeploy up` and `web` listen unless told otherwise (the demo's links point there).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
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
    """Make the database reachable before Django starts; True if this process started it."""
    url = os.environ.get("DATABASE_URL", "")
    if url:
        check_reachable(url)
        return False
    database = embedded_db.for_home(home())
    try:
        started = database.start(progress=say if progress else (lambda _m: None))
    except embedded_db.EmbeddedDatabaseError as exc:
        raise CommandError(str(exc)) from exc
    if started:
        # This process owns the server: it stops it on the way out, other processes only attach.
        atexit.register(database.stop)
    return started


def check_reachable(url: str) -> None:
    """Raise CommandError naming host and port when the database at `url` does not answer."""
    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    try:
        with psycopg.connect(url, connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        reason = reason or type(exc).__name__
        raise CommandError(
            f"cannot reach the database at {where} (from DATABASE_URL): {reason}"
        ) from None


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


def check_shared_storage() -> None:
    """Refuse to start (CommandError) when a directory every host must share is not shared."""
    from plandeploy.runs.shared_storage import SharedDirectoryError, check_shared_directories

    try:
        check_shared_directories()
    except SharedDirectoryError as exc:
        raise CommandError(str(exc)) from None


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
