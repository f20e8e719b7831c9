"""The worker process's one FlowRunner, started once and shared by its task threads."""

from __future__ import annotations

import threading

from plandeploy.flowrunner import FlowRunner

_runner: FlowRunner | None = None
_runner_lock = threading.Lock()


def start_runner() -> FlowRunner:
    """Start this process's FlowRunner (its forkserver preloads CumulusCI, not Django).

    Called by the worker at start-up; the first run starts it lazily otherwise.
    """
    global _runner
    with _runner_lock:
        if _runner is None:
            flow_runner = FlowRunner()
            flow_runner.start()
            _runner = flow_runner
        return _runner


def current_runner() -> FlowRunner:
    """The started FlowRunner, started now if the worker did not start it."""
    return _runner or start_runner()


def stop_runner() -> None:
    global _runner
    with _runner_lock:
        if _runner is not None:
            _runner.stop()
            _runner = None
