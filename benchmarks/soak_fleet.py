"""The soak's processes: `plandeploy web` and workers as subprocesses, the chaos that kills them.

Every process gets a tag in its environment, so processes it leaves behind after a kill
(a run's child, the forkserver) are found in /proc whatever their process group.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TAG_VARIABLE = "PLANDEPLOY_SOAK_PROCESS"


@dataclass
class Event:
    """Something the fleet did or saw, at a Unix time."""

    at: float
    kind: str  # kill, term, restart, exited, pg_stop, pg_start, orphans
    what: str
    detail: str = ""


@dataclass
class Service:
    """One long-running process: its command line, and the process running it now."""

    name: str
    args: list[str]
    log_dir: Path
    process: subprocess.Popen | None = None
    generation: int = 0
    started_at: float = 0.0
    tag: str = ""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}-{self.generation}.log"


@dataclass
class Fleet:
    """The web server and the workers of the soak, started, watched, killed and restarted."""

    env: dict[str, str]
    log_dir: Path
    stop_grace_seconds: float
    events: list[Event] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    # Set while the fleet itself stops or kills a process, so the watcher does not count it.
    _expected_exit: set[str] = field(default_factory=set)

    def add(self, name: str, *args: str) -> Service:
        service = Service(name=name, args=list(args), log_dir=self.log_dir)
        self.services[name] = service
        return service

    @property
    def workers(self) -> list[Service]:
        return [s for s in self.services.values() if s.name.startswith("worker")]

    def record(self, kind: str, what: str, detail: str = "") -> Event:
        event = Event(time.time(), kind, what, detail)
        self.events.append(event)
        return event

    def count(self, kind: str) -> int:
        return sum(1 for event in self.events if event.kind == kind)

    def last(self, *kinds: str) -> float | None:
        times = [event.at for event in self.events if event.kind in kinds]
        return max(times) if times else None

    # -- starting and stopping --------------------------------------------------------------

    def start(self, service: Service) -> None:
        service.generation += 1
        service.tag = f"{service.name}-{service.generation}-{os.getpid()}"
        log = service.log_file.open("ab")
        service.process = subprocess.Popen(
            [sys.executable, "-m", "plandeploy.cli", *service.args],
            cwd=REPO_ROOT,
            env={**self.env, TAG_VARIABLE: service.tag},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        service.started_at = time.time()
        self._expected_exit.discard(service.name)

    def stop(self, service: Service, sig: int = signal.SIGTERM) -> int | None:
        """Send `sig` and wait for the process to end (SIGKILL after the grace)."""
        if service.process is None:
            return None
        self._expected_exit.add(service.name)
        if service.process.poll() is None:
            service.process.send_signal(sig)
            try:
                service.process.wait(self.stop_grace_seconds)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
        self._reap_orphans(service)
        return service.process.returncode

    def stop_all(self) -> None:
        for service in self.services.values():
            self.stop(service)

    def check_exits(self) -> list[Service]:
        """Restart every process that ended without the fleet stopping it; return them."""
        exited = []
        for service in self.services.values():
            if service.process is None or service.name in self._expected_exit:
                continue
            code = service.process.poll()
            if code is not None:
                self.record("exited", service.name,
                            f"exit code {code}; log {service.log_file}: {_tail(service.log_file)}")
                self._reap_orphans(service)
                self.start(service)
                self.record("restart", service.name, "after it exited by itself")
                exited.append(service)
        return exited

    def _reap_orphans(self, service: Service, wait_seconds: float = 5.0) -> None:
        """A dead worker's children must die with it; those still alive are recorded, killed."""
        deadline = time.monotonic() + wait_seconds
        while (left := tagged_processes(service.tag)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if left:
            self.record("orphans", service.name,
                        f"{len(left)} process(es) outlived it: "
                        + ", ".join(f"{pid} {name}" for pid, name in left[:5]))
            for pid, _name in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # -- chaos ---------------------------------------------------------------------------------

    def kill_random_worker(self, rng: random.Random, min_uptime: float) -> Event | None:
        """SIGKILL or SIGTERM a random worker that has been up `min_uptime`, then restart it."""
        now = time.time()
        candidates = [w for w in self.workers if w.alive and now - w.started_at >= min_uptime]
        if not candidates:
            return None
        victim = rng.choice(candidates)
        sig = rng.choice((signal.SIGKILL, signal.SIGTERM))
        kind = "kill" if sig == signal.SIGKILL else "term"
        event = self.record(kind, victim.name, f"pid {victim.process.pid}")
        code = self.stop(victim, sig)
        event.detail += f", exit code {code}, down {time.time() - event.at:.1f} s"
        self.start(victim)
        self.record("restart", victim.name, f"after {kind}")
        return event


def restart_database(home: Path, down_seconds: float, fleet: Fleet,
                     after_start: Callable[[], None]) -> None:
    """Stop the embedded PostgreSQL (fast shutdown: every connection is cut), keep it down
    for `down_seconds`, start it again."""
    from plandeploy import embedded_db

    database = embedded_db.for_home(home)
    fleet.record("pg_stop", "postgresql")
    database.stop()
    time.sleep(down_seconds)
    database.start()
    fleet.record("pg_start", "postgresql")
    after_start()


def tagged_processes(tag: str) -> list[tuple[int, str]]:
    """(pid, command name) of every live process whose environment carries `tag`."""
    needle = f"{TAG_VARIABLE}={tag}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                stat = (entry / "stat").read_text()
                if stat[stat.rindex(")") + 2] != "Z":
                    found.append((int(entry.name), stat[stat.index("(") + 1:stat.rindex(")")]))
        except OSError:
            continue
    return found


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
