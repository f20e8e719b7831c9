"""Local org workspaces: org ids and the directories under LOCAL_ORGS_ROOT that stand in for orgs.

Rows store a workspace relative to LOCAL_ORGS_ROOT (`<org id>`, `scratch/<org id>`): the root
is storage every host shares, but each host may mount it at a path of its own, so the web host
that connects an org and the worker that runs on it each resolve the row against their own
LOCAL_ORGS_ROOT. Absolute paths stored by earlier versions are still understood.

Free of CumulusCI imports (plandeploy.orgs.local subclasses CumulusCI's OrgConfig), so the
web process can connect local orgs without loading CumulusCI.
"""

from __future__ import annotations

import os
import secrets
import shutil
import string
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path, PurePosixPath

from django.conf import settings

_ORG_ID_ALPHABET = string.ascii_letters + string.digits


def new_local_org_id() -> str:
    """An 18-character org id, shaped like a Salesforce one ("00D" + 15 characters)."""
    return "00D" + "".join(secrets.choice(_ORG_ID_ALPHABET) for _ in range(15))


def root() -> Path:
    return Path(settings.LOCAL_ORGS_ROOT)


def persistent_workspace(org_id: str) -> Path:
    """Where the workspace of a connected (persistent) local org lives."""
    return root() / org_id


def stored(path: Path) -> str:
    """How a row records `path`: relative to LOCAL_ORGS_ROOT when it lies below it."""
    try:
        return PurePosixPath(Path(path).relative_to(root())).as_posix()
    except ValueError:
        return str(path)


def resolve(recorded: str | None) -> Path | None:
    """The workspace a row records, on this host: a relative path is below LOCAL_ORGS_ROOT."""
    if not recorded:
        return None
    path = Path(recorded)
    if path.is_absolute():
        return path
    if ".." in path.parts:
        return None  # never a directory outside the root
    return root() / path


def create_workspace(path: Path, *, exist_ok: bool) -> Path:
    """Create the workspace directory (and LOCAL_ORGS_ROOT on first use)."""
    path.mkdir(parents=True, exist_ok=exist_ok)
    return path


def _looks_like_org_id(name: str) -> bool:
    return len(name) == 18 and name.startswith("00D") and name.isalnum() and name.isascii()


def persistent_workspace_ids(unchanged_since: datetime) -> Iterator[str]:
    """Org ids of the persistent workspaces under LOCAL_ORGS_ROOT not modified since then.

    Only directories named like an org id count (scratch workspaces live under `scratch/`);
    a workspace just created is skipped, as its org's row may not have committed yet.
    """
    root = Path(settings.LOCAL_ORGS_ROOT)
    try:
        entries = os.scandir(root)
    except FileNotFoundError:
        return
    cutoff = unchanged_since.timestamp()
    with entries:
        for entry in entries:
            if not _looks_like_org_id(entry.name):
                continue
            try:
                if entry.is_dir(follow_symlinks=False) and entry.stat().st_mtime <= cutoff:
                    yield entry.name
            except FileNotFoundError:
                continue


def remove_persistent_workspace(org_id: str) -> bool:
    """Remove a connected org's workspace; True if it existed."""
    path = persistent_workspace(org_id)
    if not path.is_dir():
        return False
    shutil.rmtree(path, ignore_errors=True)
    return True
