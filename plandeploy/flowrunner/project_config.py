"""A product's CumulusCI project config, loaded once in a project process and checked for edits."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass

from cumulusci.core.config import BaseProjectConfig, UniversalConfig
from cumulusci.core.utils import import_global


def _files_signature(paths: tuple[str, ...]) -> tuple[tuple[int, int] | None, ...]:
    signature = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            signature.append(None)
        else:
            signature.append((stat.st_mtime_ns, stat.st_size))
    return tuple(signature)


@dataclass
class LoadedProject:
    """A product's CumulusCI project config (and maybe its task modules), loaded in advance."""

    repo_dir: str
    config: BaseProjectConfig
    files: tuple[str, ...]  # what was read: cumulusci.yml, imported task modules
    signature: tuple[tuple[int, int] | None, ...]

    def serves(self, repo_dir: str) -> bool:
        # A plain directory is read live: an edited cumulusci.yml or task module means the
        # project must be loaded again.
        return repo_dir == self.repo_dir and _files_signature(self.files) == self.signature


def load_project(repo_dir: str, import_tasks: bool = False) -> LoadedProject:
    """Build `repo_dir`'s project config; with `import_tasks`, also import the task classes
    its cumulusci.yml defines (one that fails is left for the run that uses it to report)."""
    files = (os.path.join(repo_dir, "cumulusci.yml"),)
    signature = _files_signature(files)  # before reading: an edit meanwhile shows next time
    project_config = BaseProjectConfig(UniversalConfig(), repo_info={"root": repo_dir})
    # CumulusCI's `tasks` module is synthetic; only listed directories can be imported from.
    project_config._add_tasks_directory_to_python_path()
    if import_tasks:
        for task in (project_config.config_project.get("tasks") or {}).values():
            class_path = task.get("class_path") if isinstance(task, dict) else None
            if isinstance(class_path, str):
                with contextlib.suppress(Exception):
                    import_global(class_path)
        inside = os.path.join(repo_dir, "")
        modules = tuple(
            sorted(
                module.__file__
                for module in list(sys.modules.values())
                if isinstance(getattr(module, "__file__", None), str)
                and module.__file__.startswith(inside)
            )
        )
        files += modules
        signature += _files_signature(modules)
    return LoadedProject(repo_dir, project_config, files, signature)
