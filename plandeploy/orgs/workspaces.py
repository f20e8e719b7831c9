"""Local org workspaces: org ids and the directories under LOCAL_ORGS_ROOT that stand in for orgs.

Rows store a workspace relative to LOCAL_ORGS_ROOT (`<org id>`, `scratch/<org id>`): the root
is storage every host shares, but each host may mount it at a path of its own, so the web host
that connects an org and the worker that runs on it each resolve the row against their own
LOCAL_ORGS_ROOT. Absolute paths stored by earlier versions are still understood.

Free of CumulusCI imports (plandeploy.orgs.local subclasses CumulusCI's OrgConfig), so the
web process can connect local orgs without loading CumulusCI.
"""

from __future__ import annotations

import secrets
import string
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
