"""Scratch orgs of org type `local`: a fresh workspace under LOCAL_ORGS_ROOT/scratch that expires.

A scratch workspace holds `org.json`: the org's id, admin, expiry and the org definition the
product's repository gives for the plan (`orgs/<plan.org_config_name>.json`, read at the
plan's commit), whose `settings` become the org's initial `settings.json`. Removal only ever
touches directories directly under the scratch root, so a row whose config was edited by hand
cannot make the service delete anything else.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from plandeploy.orgs.workspaces import create_workspace, new_local_org_id, resolve

SCRATCH_DIR = "scratch"
ORG_FILE = "org.json"
SETTINGS_FILE = "settings.json"


class ScratchOrgError(Exception):
    """The scratch org cannot be created; the message is shown to the user as is."""


@dataclass(frozen=True)
class PlannedScratchOrg:
    """The id and workspace a scratch org will have, fixed before anything is created."""

    org_id: str
    workspace: Path

    @property
    def username(self) -> str:
        return f"admin@{self.org_id.lower()}.scratch.local"


def scratch_root() -> Path:
    return Path(settings.LOCAL_ORGS_ROOT) / SCRATCH_DIR


def plan_scratch_org() -> PlannedScratchOrg:
    org_id = new_local_org_id()
    return PlannedScratchOrg(org_id=org_id, workspace=scratch_root() / org_id)


def read_definition(repo_dir: Path, config_name: str) -> dict[str, Any] | None:
    """The org definition `orgs/<config_name>.json` of the product repository, if it has one."""
    if not config_name or "/" in config_name or config_name.startswith("."):
        raise ScratchOrgError(f"The plan's org config name {config_name!r} is not valid.")
    path = Path(repo_dir) / "orgs" / f"{config_name}.json"
    if not path.is_file():
        return None
    try:
        definition = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScratchOrgError(
            f"The scratch org definition orgs/{config_name}.json is not valid JSON: {exc}"
        ) from None
    if not isinstance(definition, dict):
        raise ScratchOrgError(
            f"The scratch org definition orgs/{config_name}.json must be a JSON object."
        )
    if not isinstance(definition.get("settings", {}), dict):
        raise ScratchOrgError(
            f"The \"settings\" of orgs/{config_name}.json must be a JSON object."
        )
    return definition


def create(
    planned: PlannedScratchOrg,
    *,
    repo_dir: Path,
    config_name: str,
    admin_email: str | None,
    expires_at: datetime,
    commit: str | None,
) -> None:
    """Create the workspace (it must not exist yet), then apply the repository's definition.

    The org exists before its definition is applied, as with a real scratch org (created,
    then its settings deployed): a bad definition fails a creation that already made
    something, and the caller removes it.
    """
    try:
        create_workspace(planned.workspace, exist_ok=False)
    except FileExistsError:
        raise ScratchOrgError("A scratch org with this id already exists.") from None
    definition = read_definition(repo_dir, config_name) or {}
    description = {
        "org_id": planned.org_id,
        "username": planned.username,
        # The org's administrator, as a real scratch org records it; never in the database.
        "admin_email": admin_email,
        "expires_at": expires_at.isoformat(),
        "commit": commit,
        "definition": definition,
    }
    _write_json(planned.workspace / ORG_FILE, description)
    if definition.get("settings"):
        # The org's initial settings, where the product's tasks read and merge settings.
        _write_json(planned.workspace / SETTINGS_FILE, definition["settings"])


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def is_scratch_workspace(path: str | Path | None) -> bool:
    """True only for a directory name directly under the scratch root (never the root itself);
    a relative path is a row's record, relative to LOCAL_ORGS_ROOT."""
    candidate = resolve(str(path)) if path else None
    if candidate is None or candidate.name in ("", ".", ".."):
        return False
    return candidate.parent.resolve() == scratch_root().resolve()


def remove(path: str | Path | None) -> bool:
    """Remove a scratch workspace; True if it existed. A missing one is not an error."""
    if not is_scratch_workspace(path):
        return False
    target = resolve(str(path))
    assert target is not None
    if target.is_symlink():
        target.unlink()
        return True
    if not target.exists():
        return False
    # Two removals of one org may race (a deletion job and the expiry sweep): an entry the
    # other one removed first is not an error.
    shutil.rmtree(target, onerror=_ignore_missing)
    return True


def _ignore_missing(function: Any, path: str, exc_info: Any) -> None:
    if not isinstance(exc_info[1], FileNotFoundError):
        raise exc_info[1]


def leftover_workspaces() -> list[Path]:
    """Every scratch workspace on disk (the test session checks that none is left)."""
    root = scratch_root()
    if not root.is_dir():
        return []
    return sorted(root.iterdir())
