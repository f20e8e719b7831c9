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
import shutil
import signal
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from plandeploy.flowrunner.types import Event, FlowFinished, RunResult, RunSpec

# This module is imported by the worker: it must not import CumulusCI (or child.py), which
# would cost the worker ~0.4 s and ~64 MB and apply CumulusCI's process-wide side effects.

DEFAULT_PRELOAD = ["plandeploy.flowrunner.preload"]
# Projects (repository checkouts) that keep a warm spare run process.
MAX_SPARE_PROJECTS = 2
CANCEL_POLL_SECONDS = 0.2
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])

OnEvent = Callable[[Event], None]
ShouldCancel = Callable[[], bool]


def _child_entry(spec: RunSpec, conn: Connection, parent_pid: int) -> None:
    # Imported here, not at module level: free in a warm child, avoided in the worker.
    from plandeploy.flowrunner.child import child_main

    child_main(spec, conn, parent_pid)


def _spare_entry(repo_dir: str, conn: Connection, parent_pid: int) -> None:
    from plandeploy.flowrunner.child import spare_main

    spare_main(repo_dir, conn, parent_pid)


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
    preload = sys.modules.get("plandeploy.flowrunner.preload")
    django_error = getattr(preload, "DJANGO_ERROR", None)
    if django_error:
        problems["django.setup()"] = django_error
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


_runners: weakref.WeakSet[FlowRunner] = weakref.WeakSet()


@atexit.register
def _discard_all_spares() -> None:
    # Registered after multiprocessing's own exit handler, so it runs first: that one joins
    # every child, and a spare waits for a spec that will never come.
    for runner in list(_runners):
        runner._discard_spares()


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
        spare_projects: int = MAX_SPARE_PROJECTS,
    ) -> None:
        self.preload = list(DEFAULT_PRELOAD if preload is None else preload)
        self.kill_grace = kill_grace
        self.spare_projects = spare_projects
        self._ctx: Any = None
        self._server_home: str | None = None
        self._lock = threading.Lock()
        # repo_dir -> a run process that has loaded that project and waits for its spec.
        self._spares: dict[str, tuple[Any, Connection]] = {}
        self._spares_lock = threading.Lock()
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
            # when no process it started is left: no runner's spare may outlive it.
            _discard_all_spares()
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
        proc, parent_conn = self._take_spare(spec) or self._start_child(spec)
        started = time.monotonic()
        # The next run of this project starts in a process that is already warm.
        self._start_spare(spec.repo_dir)
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
                try:
                    # Drain the pipe before believing the sentinel: a child that exits right
                    # after sending FlowFinished makes both ready at once.
                    while parent_conn.poll():
                        event = parent_conn.recv()
                        on_event(event)
                        if isinstance(event, FlowFinished):
                            self._reap(proc)
                            return RunResult(event.outcome, event.error)
                except EOFError:
                    pass
                if proc.sentinel in ready or not proc.is_alive():
                    proc.join(self.kill_grace)
                    exitcode = proc.exitcode
                    self._kill(proc)
                    return RunResult("failed", _describe_exit(exitcode))
        finally:
            if proc.exitcode is None:
                self._kill(proc)
            parent_conn.close()

    # -- spare run processes -----------------------------------------------------------------

    def _fork(self, target: Callable[..., None], first_arg: Any) -> tuple[Any, Connection]:
        """Start a run process `target(first_arg, conn, worker pid)` and return it with the
        worker's end of its pipe."""
        parent_conn, child_conn = self._context().Pipe(duplex=True)
        proc = _Process(
            target=target, args=(first_arg, child_conn, os.getpid()), name="plandeploy-run"
        )
        proc.start()
        child_conn.close()
        return proc, parent_conn

    def _start_child(self, spec: RunSpec) -> tuple[Any, Connection]:
        return self._fork(_child_entry, spec)

    def _take_spare(self, spec: RunSpec) -> tuple[Any, Connection] | None:
        """The spare run process of `spec`'s project, given `spec`; None if there is none."""
        with self._spares_lock:
            spare = self._spares.pop(spec.repo_dir, None)
        if spare is None:
            return None
        try:
            spare[1].send(spec)
        except OSError:  # it died meanwhile: a fresh child takes the run
            self._drop(spare)
            return None
        return spare

    def _start_spare(self, repo_dir: str) -> None:
        """Fork a run process that loads `repo_dir`'s project now and waits for a spec.

        Loading a product's CumulusCI config is most of a run's start: done ahead, the next
        run of that product only has to send its spec. At most `spare_projects` projects
        keep a spare; the one used longest ago gives its up.
        """
        if self.spare_projects <= 0:
            return
        with self._spares_lock:
            if repo_dir in self._spares:
                return
        spare = self._fork(_spare_entry, repo_dir)
        evicted = []
        with self._spares_lock:
            if repo_dir in self._spares:  # another thread was quicker
                evicted.append(spare)
            else:
                self._spares[repo_dir] = spare
                while len(self._spares) > self.spare_projects:
                    evicted.append(self._spares.pop(next(iter(self._spares))))
        for unused in evicted:
            self._drop(unused)

    def _discard_spares(self) -> None:
        with self._spares_lock:
            spares, self._spares = list(self._spares.values()), {}
        for spare in spares:
            self._drop(spare)

    def _drop(self, spare: tuple[Any, Connection]) -> None:
        proc, conn = spare
        conn.close()
        self._kill(proc)

    def _reap(self, proc: Any) -> None:
        proc.join(self.kill_grace)
        if proc.exitcode is None:
            self._kill(proc)

    def _kill(self, proc: Any) -> None:
        """SIGTERM the run's process group, then SIGKILL it (task subprocesses included)."""
        if proc.pid is None:
            return
        self._signal_group(proc, signal.SIGTERM)
        proc.join(self.kill_grace)
        # Also after a clean SIGTERM exit: task subprocesses may be left in the group.
        self._signal_group(proc, signal.SIGKILL)
        proc.join(5.0)

    @staticmethod
    def _signal_group(proc: Any, sig: signal.Signals) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            # The group is gone, or the child has not made its own group yet.
            if proc.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, sig)
