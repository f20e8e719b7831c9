"""Sample task that merges settings into a `local` org's settings.json."""

import json

from tasks.base import SampleTaskError, WorkspaceTask


class ConfigureSettings(WorkspaceTask):
    """Merge a settings mapping (dict or JSON string) into settings.json."""

    task_options = {
        **WorkspaceTask.task_options,
        "settings": {"description": "Settings to merge (a mapping or a JSON object)"},
    }

    def _act(self) -> None:
        new = self.options.get("settings") or {}
        if isinstance(new, str):
            new = json.loads(new)
        if not isinstance(new, dict):
            raise SampleTaskError("The settings option must be a mapping.")
        settings = self.read_json("settings.json", {})
        settings.update(new)
        self.write_json("settings.json", settings)
        for key in sorted(new):
            self.logger.info(f"Set {key} = {new[key]!r}")
        self.return_values = {"settings": settings}
