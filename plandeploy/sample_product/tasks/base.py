"""Shared base class for sample-product tasks that act on a `local` org workspace."""

import json
from pathlib import Path
from typing import Any

from cumulusci.core.exceptions import CumulusCIException
from cumulusci.core.tasks import BaseTask
from cumulusci.core.utils import process_bool_arg


class SampleTaskError(CumulusCIException):
    """A sample task failed (on purpose with `fail: true`, or because the org is unusable)."""


class WorkspaceTask(BaseTask):
    """A task that reads and writes files in the org's workspace directory."""

    task_options: dict[str, dict[str, Any]] = {
        "fail": {"description": "If true, the task raises an error (for tests and demos)."},
    }

    def _init_options(self, kwargs: dict) -> None:
        super()._init_options(kwargs)
        self.should_fail = process_bool_arg(self.options.get("fail") or False)

    @property
    def workspace(self) -> Path:
        org = self.org_config
        # LocalOrgConfig exposes `workspace`; fall back to the raw config key so the
        # task also works with a plain OrgConfig built by other tools.
        path = getattr(org, "workspace", None) if org is not None else None
        if not path and org is not None:
            path = org.config.get("workspace")
        if not path:
            raise SampleTaskError("This task needs a `local` org with a workspace directory.")
        return Path(path)

    def _run_task(self) -> None:
        org_id = self.org_config.org_id if self.org_config else None
        self.logger.info(f"{self.__class__.__name__} running against org {org_id}")
        if self.should_fail:
            raise SampleTaskError(
                f"{self.__class__.__name__} failed as requested (fail: true) on org {org_id}"
            )
        self.workspace.mkdir(parents=True, exist_ok=True)
        self._act()
        self.logger.info(f"{self.__class__.__name__} done")

    def _act(self) -> None:
        raise NotImplementedError

    def read_json(self, relpath: str, default: Any) -> Any:
        path = self.workspace / relpath
        if not path.exists():
            return default
        return json.loads(path.read_text())

    def write_json(self, relpath: str, data: Any) -> None:
        path = self.workspace / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename so a killed task never leaves a half-written file behind.
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(path)
