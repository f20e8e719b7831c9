"""The processes a FlowRunner starts from its forkserver, and the run processes it watches."""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import multiprocessing.context
import multiprocessing.popen_forkserver
import multiprocessing.reduction
import multiprocessing.spawn
import os
import select
import signal
import sys
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

# This module is imported by the worker: it must not import CumulusCI (or child.py), which
# would cost the worker ~0.4 s and ~64 MB and apply CumulusCI's process-wide side effects.


def project_entry(repo_dir: str, control: Connection, worker_pid: int) -> None:
    # Imported here, not at module level: free in a warm child, avoided in the worker.
    from plandeploy.flowrunner.project_process import project_main

    project_main(repo_dir, control, worker_pid)


def probe_entry(conn: Connection, modules: list[str]) -> None:
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


def ping_entry(conn: Connection) -> None:
    conn.send("ready")


class ForkserverPopen(multiprocessing.popen_forkserver.Popen):
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


class Process(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> ForkserverPopen:
        return ForkserverPopen(process_obj)


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
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


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "The run process stopped responding."
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"The run process died unexpectedly (killed by {name})."
    return f"The run process died unexpectedly (exit code {exitcode})."


class RunProcess:
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
