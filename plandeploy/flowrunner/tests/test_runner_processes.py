"""FlowRunner's processes: crashes, fresh forks per run, reuse, reloading, a parent killed.

Real CumulusCI against the sample product on a local org, as in test_runner.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plandeploy.flowrunner import StepLog, StepStarted
from plandeploy.flowrunner.tests.conftest import (
    SAMPLE,
    alive,
    all_text,
    collect,
    of,
    pids_running,
    step,
)

WAIT = "tasks.wait.Wait"
INSTALL = "tasks.components.InstallComponent"
COMMAND = "cumulusci.tasks.command.Command"


def test_child_crash_is_a_failure(runner, make_spec, tmp_path) -> None:
    # A plain directory (not a git repo) works as a product too.
    product = tmp_path / "crashy"
    (product / "tasks").mkdir(parents=True)
    (product / "cumulusci.yml").write_text("project:\n    name: crashy\n")
    (product / "tasks" / "crash.py").write_text(
        "import os, signal\n"
        "from cumulusci.core.tasks import BaseTask\n\n\n"
        "class Crash(BaseTask):\n"
        "    def _run_task(self):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result, events = collect(runner, make_spec([step("1", "tasks.crash.Crash")], repo_dir=product))
    assert result.outcome == "failed"
    assert result.error == "The run process died unexpectedly (killed by SIGKILL)."
    assert of(events, StepStarted)


def test_runs_of_a_project_are_fresh_forks_of_its_project_process(runner, make_spec) -> None:
    """The project is loaded once per worker; each run is still a process of its own."""
    # The step's shell is a child of the run process; /proc gives that process's parent.
    report = step(
        "1", COMMAND, command="echo run=$PPID forked-by=$(cut -d' ' -f4 /proc/$PPID/stat)"
    )
    reports = []
    for _ in range(2):
        result, events = collect(runner, make_spec([report]))
        assert result.outcome == "complete", result
        line = next(e.text for e in of(events, StepLog) if "forked-by=" in e.text)
        fields = dict(part.split("=") for part in line.split("\n")[-1].split())
        reports.append((int(fields["run"]), int(fields["forked-by"])))
    project_pid = runner._projects[str(SAMPLE)].process.pid
    assert alive(project_pid)
    (first_run, first_parent), (second_run, second_parent) = reports
    assert first_parent == second_parent == project_pid
    assert len({first_run, second_run, project_pid}) == 3


def test_child_dies_with_a_sigkilled_parent(tmp_path) -> None:
    marker = "41.4242"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plandeploy.flowrunner.tests._parent_script",
            str(tmp_path),
            str(SAMPLE),
            marker,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(Path(__file__).resolve().parents[3]),
    )
    try:
        info: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while "RUNPID" not in info and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            key, _, value = line.strip().partition("=")
            if value.isdigit():
                info[key] = int(value)
        assert {"FORKSERVER", "RUNPID"} <= set(info), info
        assert alive(info["RUNPID"]) and pids_running(f"sleep {marker}")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
            alive(info["RUNPID"]) or alive(info["FORKSERVER"]) or pids_running(f"sleep {marker}")
        ):
            time.sleep(0.05)
        assert not alive(info["RUNPID"])
        assert not pids_running(f"sleep {marker}")
        assert not alive(info["FORKSERVER"])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_failed_preload_is_reported_at_start() -> None:
    # In a subprocess: multiprocessing has one forkserver per process, shared with `runner`.
    code = (
        "from plandeploy.flowrunner import FlowRunner\n"
        "r = FlowRunner(preload=['plandeploy.flowrunner.preload', 'no_such_module_xyz'])\n"
        "try:\n"
        "    r.start()\n"
        "except RuntimeError as e:\n"
        "    print('ERR', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(Path(__file__).resolve().parents[3]),
    )
    assert "ERR The forkserver preload failed" in out.stdout, out.stderr
    assert "No module named 'no_such_module_xyz'" in out.stdout


@pytest.mark.parametrize("runs", [3])
def test_runner_is_reusable(runner, make_spec, runs: int) -> None:
    for _ in range(runs):
        result, _ = collect(runner, make_spec([step("1", INSTALL, name="x")]))
        assert result.outcome == "complete"


def test_an_edited_task_module_is_loaded_again(runner, make_spec, tmp_path) -> None:
    """A plain directory is read live: editing a task module reaches the next run."""
    product = tmp_path / "editable"
    (product / "tasks").mkdir(parents=True)
    (product / "cumulusci.yml").write_text(
        "project:\n    name: editable\ntasks:\n    say:\n        class_path: tasks.say.Say\n"
    )
    module = product / "tasks" / "say.py"

    def write_task(word: str) -> None:
        module.write_text(
            "from cumulusci.core.tasks import BaseTask\n\n\n"
            "class Say(BaseTask):\n"
            "    def _run_task(self):\n"
            f"        self.logger.info('word={word}')\n"
        )

    write_task("first")
    spec = make_spec([step("1", "tasks.say.Say")], repo_dir=product)
    result, events = collect(runner, spec)
    assert result.outcome == "complete", result
    assert "word=first" in all_text(events)
    first_project = runner._projects[str(product)].process.pid

    write_task("second-edition")  # a different size: visible even within one mtime tick
    result, events = collect(runner, make_spec([step("1", "tasks.say.Say")], repo_dir=product))
    assert result.outcome == "complete", result
    assert "word=second-edition" in all_text(events)
    assert runner._projects[str(product)].process.pid != first_project


def test_a_run_holds_no_pipe_of_another_run(runner, make_spec) -> None:
    """Runs forked by one project process do not inherit each other's pipes."""
    import threading

    slow = make_spec([step("1", WAIT, seconds=3)])
    background = threading.Thread(target=collect, args=(runner, slow))
    background.start()
    try:
        time.sleep(1.0)  # the slow run is under way, forked by the same project process
        sockets = 'echo sockets=$(ls -l /proc/$PPID/fd | grep -c "socket:")'
        result, events = collect(runner, make_spec([step("1", COMMAND, command=sockets)]))
    finally:
        background.join()
    assert result.outcome == "complete", result
    assert "sockets=1" in all_text(events)
