"""FlowRunner: starts run processes from a warm forkserver and supervises them (cancel, timeout)."""

from __future__ import annotations

import atexit
import contextlib
import io
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import multiprocessing.forkserver
import multiprocessing.popen_forkserver
import multiprocessing.reduction
import multiprocessing.spawn
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from plandeploy.flowrunner.types import Event, FlowFinished, ProcessExited, RunResult, RunSpec

# This module is imported by the worker: it must not import CumulusCI (or child.py), which
# would cost the worker ~0.4 s and ~64 MB and apply CumulusCI's process-wide side effects.

DEFAULT_PRELOAD = ["plandeploy.flowrunner.preload"]
# Projects (repository checkouts) that keep a warm project process per worker.
MAX_PROJECTS = 2
CANCEL_POLL_SECONDS = 0.2
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])

OnEvent = Callable[[Event], None]
ShouldCancel = Callable[[], bool]


def _project_entry(repo_dir: str, control: Connection, worker_pid: int) -> None:
    # Imported here, not at module level: free in a warm child, avoided in the worker.
    from plandeploy.flowrunner.child import project_main

    project_main(repo_dir, control, worker_pid)


def _probe_entry(conn: Connection, modules: list[str]) -> None:
    """Report which preload modules are missing in a fresh child, and why."""
    import importlib
    import traceback

    missing = [name for name in modules if name not in sys.modules]
    problems: dict[str, str] = {}
    for name in missing:
        try:
            importlib.import_module(name)
            problems[name] = "was not preloaded by the forkserver (imported late in the child)"
        except BaseException:
            problems[name] = traceback.format_exc(limit=4)
    conn.send(problems)


def _ping_entry(conn: Connection) -> None:
    conn.send("ready")


class _Popen(multiprocessing.popen_forkserver.Popen):
    """forkserver Popen that does not make the child re-import the worker's __main__.

    Stock multiprocessing re-runs the parent's main script in every child (as __mp_main__);
    for a worker that is a CLI entry point: slow, and not side-effect free. Run targets live
    in importable modules, so the child never needs it. Mirrors CPython 3.11's _launch.
    """

    def _launch(self, process_obj: Any) -> None:
        from multiprocessing import forkserver, util

        prep_data = multiprocessing.spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_name", None)
        prep_data.pop("init_main_from_path", None)
        buf = io.BytesIO()
        multiprocessing.context.set_spawning_popen(self)
        try:
            multiprocessing.reduction.dump(prep_data, buf)
            multiprocessing.reduction.dump(process_obj, buf)
        finally:
            multiprocessing.context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _Process(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:
        return _Popen(process_obj)


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "The run process stopped responding."
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"The run process died unexpectedly (killed by {name})."
    return f"The run process died unexpectedly (exit code {exitcode})."


class _RunProcess:
    """A run process, forked by its project process: not this process's child, so it is
    watched through a pidfd, and its exit status arrives on its pipe (ProcessExited)."""

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self.sentinel = pidfd
        self.exitcode: int | None = None

    def is_alive(self) -> bool:
        return not select.select([self.sentinel], [], [], 0)[0]

    def join(self, timeout: float) -> None:
        select.select([self.sentinel], [], [], timeout)

    def signal_group(self, sig: signal.Signals) -> None:
        """Signal the run's process group (task subprocesses included)."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            # The group is gone, or the run has not made its own group yet.
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.sentinel, sig)

    def close(self) -> None:
        os.close(self.sentinel)


@dataclass
class _Project:
    """A project process: has loaded one product's CumulusCI config and forks its runs."""

    process: Any
    control: Connection
    lock: threading.Lock = field(default_factory=threading.Lock)


_runners: weakref.WeakSet[FlowRunner] = weakref.WeakSet()


@atexit.register
def _stop_all_project_processes() -> None:
    # Registered after multiprocessing's own exit handler, so it runs first: that one joins
    # every child, and a project process waits for runs that will never come.
    for runner in list(_runners):
        runner._stop_project_processes()


class FlowRunner:
    """Runs RunSpecs in child processes forked from a pre-warmed forkserver.

    One per worker process: multiprocessing keeps a single forkserver per process. Call
    `start()` once at worker start-up (before other threads: it briefly sets HOME and
    PYTHONPATH in os.environ so the forkserver inherits them), `run()` per job (from one
    thread at a time or several: each run has its own child), and `stop()` at shutdown.
    """

    def __init__(
        self,
        preload: list[str] | None = None,
        kill_grace: float = 2.0,
        max_projects: int = MAX_PROJECTS,
    ) -> None:
        self.preload = list(DEFAULT_PRELOAD if preload is None else preload)
        self.kill_grace = kill_grace
        self.max_projects = max(max_projects, 1)
        self._ctx: Any = None
        self._server_home: str | None = None
        self._lock = threading.Lock()
        # repo_dir -> its project process; the most recently used last.
        self._projects: OrderedDict[str, _Project] = OrderedDict()
        self._projects_lock = threading.Lock()
        _runners.add(self)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the forkserver, preload it, and check in a child that the preload worked."""
        with self._lock:
            if self._ctx is not None:
                return
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(self.preload)
            # The forkserver builds UniversalConfig(), which reads and creates ~/.cumulusci:
            # give it an empty HOME so the worker user's CumulusCI settings never leak into
            # runs. Python 3.11's forkserver ignores the parent's sys.path, hence PYTHONPATH.
            self._server_home = tempfile.mkdtemp(prefix="plandeploy-forkserver-home-")
            pythonpath = os.pathsep.join(
                p for p in [_PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")] if p
            )
            with _environ(HOME=self._server_home, PYTHONPATH=pythonpath):
                multiprocessing.forkserver.ensure_running()
            self._ctx = ctx
        try:
            self._check_preload()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Shut the forkserver down (it exits once no run process is left)."""
        with self._lock:
            if self._ctx is None:
                return
            self._ctx = None
            # The forkserver is shared by every FlowRunner of this process and exits only
            # when no process it started is left: no runner's project process may outlive it.
            _stop_all_project_processes()
            # No public API stops the forkserver; closing its "alive" pipe is how it is told.
            server = multiprocessing.forkserver._forkserver
            server._stop()
            if self._server_home:
                shutil.rmtree(self._server_home, ignore_errors=True)
                self._server_home = None

    @property
    def forkserver_pid(self) -> int | None:
        return multiprocessing.forkserver._forkserver._forkserver_pid

    def _context(self) -> Any:
        if self._ctx is None:
            raise RuntimeError("FlowRunner.start() has not been called.")
        return self._ctx

    def _check_preload(self) -> None:
        ctx = self._context()
        parent_conn, child_conn = ctx.Pipe(duplex=False)
        proc = _Process(target=_probe_entry, args=(child_conn, self.preload), daemon=True)
        proc.start()
        child_conn.close()
        try:
            if not parent_conn.poll(60):
                raise RuntimeError("The forkserver preload check did not answer within 60 s.")
            problems = parent_conn.recv()
        finally:
            parent_conn.close()
            proc.join(5)
        if problems:
            details = "\n".join(f"- {name}: {why}" for name, why in problems.items())
            raise RuntimeError(f"The forkserver preload failed:\n{details}")

    # -- measuring -----------------------------------------------------------------------

    def ping(self) -> float:
        """Start a do-nothing child and return the seconds until it answered (benchmarks)."""
        ctx = self._context()
        started = time.perf_counter()
        parent_conn, child_conn = ctx.Pipe(duplex=False)
        proc = _Process(target=_ping_entry, args=(child_conn,), daemon=True)
        proc.start()
        child_conn.close()
        parent_conn.recv()
        elapsed = time.perf_counter() - started
        parent_conn.close()
        proc.join()
        return elapsed

    # -- running -------------------------------------------------------------------------

    def run(
        self,
        spec: RunSpec,
        on_event: OnEvent,
        should_cancel: ShouldCancel = lambda: False,
        timeout: float = 3600.0,
        cancel_grace: float = 30.0,
    ) -> RunResult:
        """Run `spec` in a fresh child; call `on_event` (in this thread) for each event.

        Returns when the child has finished or has been stopped. The outcome is the child's
        FlowFinished outcome, "canceled" if a cancel had to kill the child after
        `cancel_grace` seconds, "timeout" after `timeout` seconds, or "failed" if the child
        died. If `on_event` or `should_cancel` raises, the child is killed and the exception
        propagates.
        """
        proc, parent_conn = self._start_run(spec)
        started = time.monotonic()
        deadline = started + timeout
        cancel_deadline: float | None = None
        next_poll = started
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    self._kill(proc)
                    return RunResult("timeout", f"The run exceeded the time limit ({timeout:g} s).")
                if cancel_deadline is None and now >= next_poll:
                    next_poll = now + CANCEL_POLL_SECONDS
                    if should_cancel():
                        cancel_deadline = now + cancel_grace
                        with contextlib.suppress(OSError):
                            parent_conn.send("cancel")
                if cancel_deadline is not None and now >= cancel_deadline:
                    self._kill(proc)
                    return RunResult(
                        "canceled",
                        f"Canceled; the running step did not finish within {cancel_grace:g} s "
                        "and was stopped.",
                    )
                wake = min(deadline, cancel_deadline if cancel_deadline is not None else next_poll)
                ready = multiprocessing.connection.wait(
                    [parent_conn, proc.sentinel], timeout=max(wake - now, 0)
                )
                if not ready:
                    continue
                finished = self._read_events(proc, parent_conn, on_event)
                if finished is None and (proc.sentinel in ready or not proc.is_alive()):
                    # The run has exited: all it sent comes before the ProcessExited its
                    # project process sends once it has reaped it, so read up to that.
                    finished = self._read_events(
                        proc, parent_conn, on_event, until_exit=self.kill_grace
                    )
                    if finished is None:
                        self._kill(proc)
                        return RunResult("failed", _describe_exit(proc.exitcode))
                if finished is not None:
                    self._reap(proc)
                    return RunResult(finished.outcome, finished.error)
        finally:
            if proc.is_alive():
                self._kill(proc)
            proc.close()
            parent_conn.close()

    # -- project processes -------------------------------------------------------------------

    def _start_run(self, spec: RunSpec) -> tuple[_RunProcess, Connection]:
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
                return _RunProcess(pid, pidfd), parent_conn
            # The project's files changed since it was loaded; it exits by itself.
            parent_conn.close()
            self._retire(spec.repo_dir, project, kill=False)
        raise RuntimeError("The project process could not start the run.")

    def _project(self, repo_dir: str) -> _Project:
        """`repo_dir`'s project process, started (from the forkserver) if there is none.

        Loading a product's CumulusCI config is most of a run's start: a project process
        loads it once, and each run is a fork of it. At most `max_projects` projects keep
        one; the one used longest ago is retired (its running runs finish first).
        """
        with self._projects_lock:
            project = self._projects.get(repo_dir)
            if project is not None:
                self._projects.move_to_end(repo_dir)
                return project
        control, child_control = self._context().Pipe(duplex=True)
        process = _Process(
            target=_project_entry,
            args=(repo_dir, child_control, os.getpid()),
            name="plandeploy-project",
            daemon=True,
        )
        process.start()
        child_control.close()
        started = _Project(process, control)
        retired = []
        with self._projects_lock:
            project = self._projects.setdefault(repo_dir, started)
            if project is not started:  # another thread was quicker
                retired.append(started)
            self._projects.move_to_end(repo_dir)
            while len(self._projects) > self.max_projects:
                retired.append(self._projects.popitem(last=False)[1])
        for unused in retired:
            self._close_project(unused, kill=False)
        return project

    def _retire(self, repo_dir: str, project: _Project, kill: bool) -> None:
        with self._projects_lock:
            if self._projects.get(repo_dir) is project:
                del self._projects[repo_dir]
        self._close_project(project, kill)

    def _close_project(self, project: _Project, kill: bool) -> None:
        # Closing the control pipe tells the project process to exit once its runs are done.
        with project.lock:
            project.control.close()
        if kill:
            self._kill_process(project.process)

    def _stop_project_processes(self) -> None:
        with self._projects_lock:
            projects, self._projects = list(self._projects.values()), OrderedDict()
        for project in projects:
            self._close_project(project, kill=True)

    # -- ending run processes ----------------------------------------------------------------

    def _read_events(
        self,
        proc: _RunProcess,
        conn: Connection,
        on_event: OnEvent,
        until_exit: float | None = None,
    ) -> FlowFinished | None:
        """Hand the run's events to `on_event` until its FlowFinished, which is returned.

        Reads what has arrived; with `until_exit`, waits up to that many seconds for the
        run's ProcessExited (its exit status) instead. None if the run did not finish.
        """
        deadline = time.monotonic() + (until_exit or 0.0)
        while proc.exitcode is None:
            try:
                if not conn.poll(max(deadline - time.monotonic(), 0.0)):
                    return None
                event = conn.recv()
            except (EOFError, OSError):
                return None
            if isinstance(event, ProcessExited):
                proc.exitcode = event.exitcode
                continue
            on_event(event)
            if isinstance(event, FlowFinished):
                return event
        return None

    def _reap(self, proc: _RunProcess) -> None:
        proc.join(self.kill_grace)
        if proc.is_alive():
            self._kill(proc)

    def _kill(self, proc: _RunProcess) -> None:
        """SIGTERM the run's process group, then SIGKILL it (task subprocesses included)."""
        proc.signal_group(signal.SIGTERM)
        proc.join(self.kill_grace)
        # Also after a clean SIGTERM exit: task subprocesses may be left in the group.
        proc.signal_group(signal.SIGKILL)
        proc.join(5.0)

    def _kill_process(self, process: Any) -> None:
        """SIGTERM, then SIGKILL, a project process (its runs are in groups of their own)."""
        process.terminate()
        process.join(self.kill_grace)
        if process.exitcode is None:
            process.kill()
            process.join(5.0)
