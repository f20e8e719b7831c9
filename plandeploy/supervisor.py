"""`plandeploy up`'s child processes: each one that dies is restarted, all stop on a signal."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

# Back-off before restarting a child that died, doubling up to the last value; a child
# that ran STABLE_SECONDS before dying starts over at the first.
RESTART_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
STABLE_SECONDS = 60.0
POLL_SECONDS = 0.2


@dataclass
class Service:
    """One child: its name in log lines and the command that starts it."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    restarts: int = 0

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv)
        self.started_at = time.monotonic()
        self.restart_at = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def supervise(services: list[Service], say: Callable[[str], None], stop_grace: float) -> int:
    """Start every service and keep them running until SIGINT or SIGTERM; then stop them
    (SIGTERM, and SIGKILL after `stop_grace` seconds). Returns the exit code (0)."""
    stopping = False

    def request_stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for service in services:
        if service.process is None:
            service.start()
    while not stopping:
        now = time.monotonic()
        for service in services:
            if service.restart_at is not None:
                if now >= service.restart_at:
                    service.start()
                    service.restarts += 1
                    say(f"{service.name} restarted (pid {service.process.pid})")
                continue
            if service.running():
                continue
            returncode = service.process.returncode if service.process else 0
            if now - service.started_at >= STABLE_SECONDS:
                service.failures = 0
            delay = RESTART_DELAYS[min(service.failures, len(RESTART_DELAYS) - 1)]
            service.failures += 1
            service.restart_at = now + delay
            say(f"{service.name} exited unexpectedly ({_describe(returncode)}); "
                f"restarting it in {delay:g} s")
        time.sleep(POLL_SECONDS)
    say("stopping ...")
    _stop_all(services, stop_grace)
    say("stopped")
    return 0


def _stop_all(services: list[Service], grace: float) -> None:
    alive = [s.process for s in services if s.process is not None and s.process.poll() is None]
    for process in alive:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in alive:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
