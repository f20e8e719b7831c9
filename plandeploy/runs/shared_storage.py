"""Start-up check that the directories every host must share (LOCAL_ORGS_ROOT) are shared.

The web host creates a connected local org's workspace and any worker runs on it; a scratch
org created on one worker is preflighted, installed and deleted by whichever worker takes the
next job. With a private directory per host this fails only later, at run time, as a missing
workspace. So the first host to use the directory writes a random marker into it and records
it in the database; every other host must find the same marker there, or it refuses to start.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.db import ProgrammingError, connection, transaction

from plandeploy.runs.models import SharedDirectory

logger = logging.getLogger(__name__)

MARKER_FILE = ".plandeploy-shared-directory"


class SharedDirectoryError(Exception):
    """A shared directory is missing, unusable or not the one the other hosts use."""


def shared_directories() -> dict[str, Path]:
    """Setting name -> the directory it names on this host."""
    return {"LOCAL_ORGS_ROOT": Path(settings.LOCAL_ORGS_ROOT)}


def check_shared_directories() -> None:
    """Raise SharedDirectoryError unless each shared directory is usable and the same one
    the other hosts of this deployment use."""
    for setting, path in shared_directories().items():
        marker = _marker_on_disk(setting, path)
        try:
            recorded = _record(setting, marker)
        except ProgrammingError:
            # The table comes with a migration not yet applied; /readyz reports that.
            logger.warning("%s not checked: the database has pending migrations", setting)
            return
        if recorded != marker:
            raise SharedDirectoryError(
                f"{setting} ({path}) is not the directory the other hosts of this deployment "
                f"use: its {MARKER_FILE} does not match the one recorded in the database. "
                f"Every web and worker host must see the same {setting} (shared storage, "
                "mounted anywhere); see docs/deploy.md. If the directory was moved on "
                f"purpose, copy {MARKER_FILE} over from its old place."
            )


def _marker_on_disk(setting: str, path: Path) -> str:
    """The directory's marker, written now if it has none."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SharedDirectoryError(
            f"{setting} ({path}) cannot be created: {exc.strerror or exc}"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise SharedDirectoryError(f"{setting} ({path}) is not writable by this process")
    marker_path = path / MARKER_FILE
    if marker_path.exists():
        return marker_path.read_text().strip()
    # Written whole under a temporary name, then linked into place: link() fails when the
    # marker exists, so two hosts starting together agree on one marker, and neither can
    # read a marker the other has created but not yet written (an empty marker recorded by
    # the quicker host made every later host refuse to start).
    value = secrets.token_hex(16)
    temporary = path / f"{MARKER_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    temporary.write_text(value)
    try:
        os.link(temporary, marker_path)
    except FileExistsError:
        return marker_path.read_text().strip()
    finally:
        temporary.unlink(missing_ok=True)
    return value


def _record(setting: str, marker: str) -> str:
    """Record `marker` for `setting` unless a host recorded one before; return the record."""
    table = SharedDirectory._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (setting, marker, created_at) VALUES (%s, %s, now()) "
            "ON CONFLICT (setting) DO NOTHING",
            [setting, marker],
        )
        cursor.execute(f"SELECT marker FROM {table} WHERE setting = %s", [setting])
        return cursor.fetchone()[0]
