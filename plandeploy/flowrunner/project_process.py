"""A project process: holds one product's loaded project and forks a fresh run process per run."""

from __future__ import annotations

import contextlib
import gc
import os
import select
from multiprocessing import reduction
from multiprocessing.connection import Connection

from plandeploy.flowrunner.child import child_main, die, scrub_environment
from plandeploy.flowrunner.project_config import LoadedProject, load_project
from plandeploy.flowrunner.types import ProcessExited, RunSpec


def project_main(repo_dir: str, control: Connection, worker_pid: int) -> None:
    """Entry point of a project process: loads `repo_dir`'s project once, then forks one
    fresh run process per RunSpec it is sent, until the worker closes `control` (or the
    project's files change: it answers None and exits once its runs are done).

    Each run is a new fork of a process that holds only the loaded project, never another
    run's state. The worker is not the runs' parent: this process reaps them and sends each
    one's exit status on its own pipe (ProcessExited). It exits with the worker, as runs do.
    """
    os.setpgid(0, 0)
    try:
        worker_pidfd = os.pidfd_open(worker_pid)
    except ProcessLookupError:
        die()
        return
    scrub_environment()
    os.chdir(repo_dir)  # where a run loads its project too
    loaded = _try_load_project(repo_dir)
    # Runs are forked from here: their garbage collections must not walk (and copy) the
    # project config, or every run would copy the pages that hold it.
    gc.collect()
    gc.freeze()
    runs: dict[int, tuple[int, Connection]] = {}  # run pidfd -> (pid, the run's pipe)
    accepting = True
    while accepting or runs:
        waiting = [worker_pidfd, *runs, *([control] if accepting else [])]
        readable, _, _ = select.select(waiting, [], [])
        if worker_pidfd in readable:
            die()
        for pidfd in [fd for fd in readable if fd in runs]:
            _report_exit(pidfd, *runs.pop(pidfd))
        if control not in readable:
            continue
        try:
            spec = control.recv()
            conn = Connection(reduction.recv_handle(control))
        except (EOFError, OSError):
            accepting = False  # the worker retired this project: finish the running ones
            continue
        if loaded is not None and not loaded.serves(spec.repo_dir):
            # Edited since it was loaded, and imported modules cannot be unloaded: the
            # worker starts a new project process instead of this one.
            control.send(None)
            accepting = False
            conn.close()
            continue
        inherited = [control.fileno(), worker_pidfd, *runs, *(c.fileno() for _, c in runs.values())]
        pid = os.fork()
        if pid == 0:
            _run_forked(spec, conn, worker_pid, loaded, inherited)
        pidfd = os.pidfd_open(pid)
        runs[pidfd] = (pid, conn)
        control.send(pid)
        reduction.send_handle(control, pidfd, 0)


def _try_load_project(repo_dir: str) -> LoadedProject | None:
    try:
        return load_project(repo_dir, import_tasks=True)
    except Exception:  # each run loads it again, and reports the error as its own
        return None


def _run_forked(
    spec: RunSpec,
    conn: Connection,
    worker_pid: int,
    loaded: LoadedProject | None,
    inherited: list[int],
) -> None:
    try:
        # Other runs' pipes must not be reachable from this run's (product) code.
        for fd in inherited:
            os.close(fd)
        child_main(spec, conn, worker_pid, loaded)
    finally:
        os._exit(1)


def _report_exit(pidfd: int, pid: int, conn: Connection) -> None:
    _, status = os.waitpid(pid, 0)
    os.close(pidfd)
    with contextlib.suppress(OSError):
        conn.send(ProcessExited(os.waitstatus_to_exitcode(status)))
    conn.close()
