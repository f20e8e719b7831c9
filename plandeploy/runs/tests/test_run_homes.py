"""Run homes a killed worker left behind are removed; those of live workers are kept (real
processes holding, and dying with, their root's lock)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from plandeploy.runs.execution.run_homes import OWNER_FILE, ROOT_PREFIX, remove_abandoned
from plandeploy.testing.processes import REPO_ROOT

LONG_AGO = 10_000  # seconds: past the grace given to a root being created


def _age(path: Path) -> None:
    then = path.stat().st_mtime - LONG_AGO
    os.utime(path, (then, then))


def _root(parent: Path, name: str) -> Path:
    root = parent / f"{ROOT_PREFIX}{name}"
    (root / "plandeploy-run-abc-1").mkdir(parents=True)
    (root / OWNER_FILE).touch()
    return root


def _holding(code: str, *args: str) -> tuple[subprocess.Popen, str]:
    """A process that runs `code` and then waits, and the first line it printed."""
    process = subprocess.Popen(
        [sys.executable, "-c", code + "\nimport time; print('ready', flush=True); time.sleep(120)",
         *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def test_only_roots_no_live_process_holds_are_removed(tmp_path):
    dead, live, new = _root(tmp_path, "dead"), _root(tmp_path, "live"), _root(tmp_path, "new")
    lock = "import fcntl, sys; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX)"
    holder, _ready = _holding(lock, str(live / OWNER_FILE))
    try:
        for root in (dead, live):
            _age(root)
        assert remove_abandoned(tmp_path) == 1
        assert not dead.exists() and live.exists()
        assert new.exists()  # recent: perhaps still being created
    finally:
        holder.kill()
        holder.wait()
    assert remove_abandoned(tmp_path) == 1  # its holder is gone now
    assert not live.exists()


def test_the_home_of_a_killed_worker_is_removed_and_a_live_ones_kept():
    make_home = ("from plandeploy.runs.execution.run_homes import new_run_home;"
                 "print(new_run_home('job1'), flush=True)")
    (killed, killed_path), (alive, alive_path) = _holding(make_home), _holding(make_home)
    try:
        homes = killed_home, alive_home = Path(killed_path), Path(alive_path)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        for home in homes:
            assert home.is_dir() and home.parent.name.startswith(ROOT_PREFIX)
            _age(home.parent)
        remove_abandoned(Path(tempfile.gettempdir()))
        assert not killed_home.parent.exists()
        assert alive_home.is_dir()
    finally:
        for process in (alive, killed):
            process.kill()
            process.wait()
        for path in (killed_path, alive_path):
            if path:
                shutil.rmtree(Path(path).parent, ignore_errors=True)


def test_a_process_that_exits_normally_removes_its_root():
    code = ("from plandeploy.runs.execution.run_homes import new_run_home;"
            "print(new_run_home('job2'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    home = Path(result.stdout.strip())
    assert home.parent.name.startswith(ROOT_PREFIX)
    assert not home.parent.exists()
