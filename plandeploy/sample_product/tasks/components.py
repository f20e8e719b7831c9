"""Sample tasks that install components into a `local` org and report what is installed."""

from tasks.base import WorkspaceTask


class InstallComponent(WorkspaceTask):
    """Install a named component: a manifest entry plus the component's files."""

    task_options = {
        **WorkspaceTask.task_options,
        "name": {"description": "Component name", "required": True},
        "version": {"description": "Component version (default 1.0)"},
    }

    def _act(self) -> None:
        name = str(self.options["name"])
        version = str(self.options.get("version") or "1.0")
        manifest = self.read_json("manifest.json", {})
        previous = manifest.get(name)
        manifest[name] = version
        component_dir = self.workspace / "components" / name
        component_dir.mkdir(parents=True, exist_ok=True)
        (component_dir / "README.txt").write_text(f"{name} {version}\n")
        self.write_json("manifest.json", manifest)
        if previous:
            self.logger.info(f"Upgraded component {name} from {previous} to {version}")
        else:
            self.logger.info(f"Installed component {name} {version}")
        self.return_values = {"name": name, "version": version, "previous": previous}


class WorkspaceStatus(WorkspaceTask):
    """Report installed components and settings; read-only, for preflight checks."""

    def _run_task(self) -> None:
        # A read-only status must work on a fresh org whose workspace does not exist yet.
        org = self.org_config
        path = getattr(org, "workspace", None) if org is not None else None
        exists = bool(path) and self.workspace.is_dir()
        self.return_values = {
            "exists": exists,
            "components": self.read_json("manifest.json", {}) if exists else {},
            "settings": self.read_json("settings.json", {}) if exists else {},
        }
        self.logger.info(f"Workspace status: {self.return_values}")
