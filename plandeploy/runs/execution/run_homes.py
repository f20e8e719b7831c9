"""Where a run's HOME lives: below a directory its worker process holds a lock on, so the homes
a killed worker left behind (with the org's files in them) are removed by the next run.

A worker that dies by SIGKILL or a crash never reaches the `finally` that removes its run's
home. Each worker process keeps an exclusive `flock` on `<root>/.owner` for its life (its
flow children inherit the descriptor, so a child still running keeps it too); the kernel
drops the lock when the last of them dies. A root whose lock can be taken is abandoned.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

ROOT_PREFIX = "plandeploy-worker-"
OWNER_FILE = ".owner"
# A root changed more recently than this may be one a process is creating (before its lock).
CREATING_GRACE_SECONDS = 60.0

_lock = threading.Lock()
_root: tuple[int, Path, IO] | None = None  # (pid, root, the locked file)


def new_run_home(public_id: str) -> str:
    """A new, empty HOME for the run `public_id`, below this process's root."""
    return tempfile.mkdtemp(prefix=f"plandeploy-run-{public_id}-", dir=_own_root())


def _own_root() -> Path:
    global _root
    with _lock:
        if _root is None or _root[0] != os.getpid():  # none yet, or inherited by a fork
            root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
            owner = open(root / OWNER_FILE, "w")  # noqa: SIM115 -- held for the process's life
            fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _root = (os.getpid(), root, owner)
            atexit.register(_remove_own_root, os.getpid(), root)
            removed = remove_abandoned(Path(tempfile.gettempdir()), keep=root)
            if removed:
                logger.info("removed %d run home root(s) a stopped worker left behind", removed)
        return _root[1]


def _remove_own_root(pid: int, root: Path) -> None:
    if os.getpid() == pid:  # not in a forked child that exits through Python
        shutil.rmtree(root, ignore_errors=True)


def remove_abandoned(parent: Path, keep: Path | None = None) -> int:
    """Remove the roots below `parent` that no live process holds; return how many."""
    removed = 0
    for root in parent.glob(f"{ROOT_PREFIX}*"):
        if root == keep or not root.is_dir():
            continue
        if _abandoned(root):
            shutil.rmtree(root, ignore_errors=True)
            removed += 1
    return removed


def _abandoned(root: Path) -> bool:
    try:
        if time.time() - root.stat().st_mtime < CREATING_GRACE_SECONDS:
            return False  # perhaps being created: its lock may not be taken yet
        owner = open(root / OWNER_FILE)  # noqa: SIM115 -- closed below, which drops the lock
    except FileNotFoundError:
        return root.exists()  # created but never locked, long ago
    with owner:
        try:
            fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its worker (or a child of it) is alive
        return True
