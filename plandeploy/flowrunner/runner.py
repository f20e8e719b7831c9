"""FlowRunner: starts run processes from a warm forkserver and supervises them (cancel, timeout)."""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import shutil
import signal
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from plandeploy.flowrunner.processes import (
    Process,
    RunProcess,
    describe_exit,
    environ,
    ping_entry,
    probe_entry,
)
from plandeploy.flowrunner.projects import Project, ProjectPool
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


_runners: weakref.WeakSet[FlowRunner] = weakref.WeakSet()


@atexit.register
def _stop_all_project_processes() -> None:
    # Registered after multiprocessing's own exit handler, so it runs first: that one joins
    # every child, and a project process waits for runs that will never come.
    for runner in list(_runners):
        runner._pool.stop_all()


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
        self._ctx: Any = None
        self._server_home: str | None = None
        self._lock = threading.Lock()
        self._pool = ProjectPool(self._context, kill_grace, max_projects)
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
            with environ(HOME=self._server_home, PYTHONPATH=pythonpath):
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
    def max_projects(self) -> int:
        return self._pool.max_projects

    @property
    def _projects(self) -> dict[str, Project]:
        """repo_dir -> its project process (read by tests and benchmarks)."""
        return self._pool.projects

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
        proc = Process(target=probe_entry, args=(child_conn, self.preload), daemon=True)
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
        proc = Process(target=ping_entry, args=(child_conn,), daemon=True)
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
        proc, parent_conn = self._pool.start_run(spec)
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
                        return RunResult("failed", describe_exit(proc.exitcode))
                if finished is not None:
                    self._reap(proc)
                    return RunResult(finished.outcome, finished.error)
        finally:
            if proc.is_alive():
                self._kill(proc)
            proc.close()
            parent_conn.close()

    # -- project processes -------------------------------------------------------------------

    def _read_events(
        self,
        proc: RunProcess,
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

    def _reap(self, proc: RunProcess) -> None:
        proc.join(self.kill_grace)
        if proc.is_alive():
            self._kill(proc)

    def _kill(self, proc: RunProcess) -> None:
        """SIGTERM the run's process group, then SIGKILL it (task subprocesses included)."""
        proc.signal_group(signal.SIGTERM)
        proc.join(self.kill_grace)
        # Also after a clean SIGTERM exit: task subprocesses may be left in the group.
        proc.signal_group(signal.SIGKILL)
        proc.join(5.0)
