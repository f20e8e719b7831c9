"""Local org workspaces: org ids and the directories under LOCAL_ORGS_ROOT that stand in for orgs.

Free of CumulusCI imports (plandeploy.orgs.local subclasses CumulusCI's OrgConfig), so the
web process can connect local orgs without loading CumulusCI.
"""

from __future__ import annotations

import secrets
import string
from pathlib import Path

from django.conf import settings

_ORG_ID_ALPHABET = string.ascii_letters + string.digits


def new_local_org_id() -> str:
    """An 18-character org id, shaped like a Salesforce one ("00D" + 15 characters)."""
    return "00D" + "".join(secrets.choice(_ORG_ID_ALPHABET) for _ in range(15))


def persistent_workspace(org_id: str) -> Path:
    """Where the workspace of a connected (persistent) local org lives."""
    return Path(settings.LOCAL_ORGS_ROOT) / org_id


def create_workspace(path: Path, *, exist_ok: bool) -> Path:
    """Create the workspace directory (and LOCAL_ORGS_ROOT on first use)."""
    path.mkdir(parents=True, exist_ok=exist_ok)
    return path
