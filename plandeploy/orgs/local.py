"""The `local` org type: a CumulusCI OrgConfig backed by a workspace directory, never Salesforce."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cumulusci.core.config import OrgConfig


class LocalOrgConfig(OrgConfig):
    """An org that lives in a directory on the worker host.

    CumulusCI's flow coordinators call ``refresh_oauth_token`` before running anything, and the
    stock implementation contacts Salesforce (token, userinfo, organization). A local org has no
    token to refresh, so that call does nothing and flows of non-Salesforce tasks run offline.
    Tasks find the org's "instance" at ``org_config.workspace``.
    """

    def __init__(
        self,
        config: dict[str, Any],
        name: str = "local",
        keychain: Any = None,
        global_org: bool = False,
    ) -> None:
        config = dict(config)
        workspace = config.get("workspace")
        if workspace:
            config["workspace"] = str(Path(workspace))
            # Several CumulusCI log lines print the instance; make it say something useful.
            config.setdefault("instance_url", Path(workspace).resolve().as_uri())
            config.setdefault("instance_name", "local")
        super().__init__(config, name, keychain=keychain, global_org=global_org)

    def refresh_oauth_token(
        self, keychain: Any, connected_app: Any = None, is_sandbox: bool = False
    ) -> None:
        """Nothing to refresh: a local org has no OAuth token."""

    def save(self) -> None:
        """Local orgs are not stored in a CumulusCI keychain; the service owns their record."""

    @property
    def workspace(self) -> str | None:
        """The workspace directory that stands in for the org's instance."""
        value = self.config.get("workspace")
        return str(value) if value else None

    @property
    def workspace_path(self) -> Path | None:
        value = self.workspace
        return Path(value) if value else None

    @property
    def workspace_exists(self) -> bool:
        """Handy in preflight `when` expressions: ``not org_config.workspace_exists``."""
        path = self.workspace_path
        return bool(path and path.is_dir())
