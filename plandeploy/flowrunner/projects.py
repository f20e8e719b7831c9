"""A FlowRunner's project processes: one per product checkout, each forks that product's runs."""

from __future__ import annotations

import multiprocessing.reduction
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from plandeploy.flowrunner.processes import Process, RunProcess, project_entry
from plandeploy.flowrunner.types import RunSpec


@dataclass
class Project:
    """A project process: has loaded one product's CumulusCI config and forks its runs."""

    process: Any
    control: Connection
    lock: threading.Lock = field(default_factory=threading.Lock)


class ProjectPool:
    """The project processes of one FlowRunner, the most recently used last.

    Loading a product's CumulusCI config is most of a run's start: a project process loads
    it once, and each run is a fork of it. At most `max_projects` projects keep one; the one
    used longest ago is retired (its running runs finish first).
    """

    def __init__(self, context: Callable[[], Any], kill_grace: float, max_projects: int) -> None:
        self._context = context
        self.kill_grace = kill_grace
        self.max_projects = max(max_projects, 1)
        # repo_dir -> its project process; the most recently used last.
        self.projects: OrderedDict[str, Project] = OrderedDict()
        self._lock = threading.Lock()

    def start_run(self, spec: RunSpec) -> tuple[RunProcess, Connection]:
        """Have the project process of `spec`'s product fork a run process for `spec`.

        Returns the run and the worker's end of its pipe. A project process that died, or
        whose project was edited since it loaded it, is replaced once.
        """
        for _attempt in (1, 2):
            project = self._project(spec.repo_dir)
            parent_conn, child_conn = self._context().Pipe(duplex=True)
            try:
                with project.lock:
                    project.control.send(spec)
                    multiprocessing.reduction.send_handle(
                        project.control, child_conn.fileno(), project.process.pid
                    )
                    pid = project.control.recv()
                    if pid is not None:
                        pidfd = multiprocessing.reduction.recv_handle(project.control)
            except (EOFError, OSError):  # it died
                parent_conn.close()
                self._retire(spec.repo_dir, project, kill=True)
                continue
            finally:
                child_conn.close()
            if pid is not None:
                return RunProcess(pid, pidfd), parent_conn
            # The project's files changed since it was loaded; it exits by itself.
            parent_conn.close()
            self._retire(spec.repo_dir, project, kill=False)
        raise RuntimeError("The project process could not start the run.")

    def _project(self, repo_dir: str) -> Project:
        """`repo_dir`'s project process, started (from the forkserver) if there is none."""
        with self._lock:
            project = self.projects.get(repo_dir)
            if project is not None:
                self.projects.move_to_end(repo_dir)
                return project
        control, child_control = self._context().Pipe(duplex=True)
        process = Process(
            target=project_entry,
            args=(repo_dir, child_control, os.getpid()),
            name="plandeploy-project",
            daemon=True,
        )
        process.start()
        child_control.close()
        started = Project(process, control)
        retired = []
        with self._lock:
            project = self.projects.setdefault(repo_dir, started)
            if project is not started:  # another thread was quicker
                retired.append(started)
            self.projects.move_to_end(repo_dir)
            while len(self.projects) > self.max_projects:
                retired.append(self.projects.popitem(last=False)[1])
        for unused in retired:
            self._close_project(unused, kill=False)
        return project

    def _retire(self, repo_dir: str, project: Project, kill: bool) -> None:
        with self._lock:
            if self.projects.get(repo_dir) is project:
                del self.projects[repo_dir]
        self._close_project(project, kill)

    def _close_project(self, project: Project, kill: bool) -> None:
        # Closing the control pipe tells the project process to exit once its runs are done.
        with project.lock:
            project.control.close()
        if kill:
            self._kill_process(project.process)

    def stop_all(self) -> None:
        with self._lock:
            projects, self.projects = list(self.projects.values()), OrderedDict()
        for project in projects:
            self._close_project(project, kill=True)

    def _kill_process(self, process: Any) -> None:
        """SIGTERM, then SIGKILL, a project process (its runs are in groups of their own)."""
        process.terminate()
        process.join(self.kill_grace)
        if process.exitcode is None:
            process.kill()
            process.join(5.0)
