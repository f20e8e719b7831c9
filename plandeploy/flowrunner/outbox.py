"""The run process's sending side: events to the worker in order, log lines batched per step."""

from __future__ import annotations

import logging
import threading
from multiprocessing.connection import Connection

from plandeploy.flowrunner.types import StepLog
from plandeploy.scrub import scrub


class Outbox:
    """Serialises events to the parent and batches log lines per step.

    Lines are buffered and sent at most once per `flush_seconds` (by a timer thread), plus
    once whenever the step changes or another event is sent, so a step's logs always arrive
    before its StepFinished and a chatty step costs a handful of messages, not one per line.
    """

    def __init__(self, conn: Connection, secrets: list[str], flush_seconds: float) -> None:
        self._conn = conn
        self._secrets = tuple(s for s in secrets if s)
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._lines_step: str | None = None
        self.current_step: str | None = None
        self._stop = threading.Event()
        self._flush_seconds = max(flush_seconds, 0.01)
        self._timer = threading.Thread(target=self._flush_loop, name="log-flush", daemon=True)
        self._timer.start()

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def log(self, line: str) -> None:
        with self._lock:
            if self._lines and self._lines_step != self.current_step:
                self._flush_locked()
            self._lines_step = self.current_step
            self._lines.append(line)

    def send(self, event: object) -> None:
        with self._lock:
            self._flush_locked()
            self._conn.send(event)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._lines:
            return
        text = self.scrub("\n".join(self._lines))
        self._lines = []
        self._conn.send(StepLog(self._lines_step, text))

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            with self._lock:
                self._flush_locked()


class OutboxLogHandler(logging.Handler):
    def __init__(self, outbox: Outbox) -> None:
        super().__init__(logging.INFO)
        self._outbox = outbox

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = record.getMessage()
            if record.exc_info:
                line = f"{line}\n{logging.Formatter().formatException(record.exc_info)}"
            self._outbox.log(line)
        except Exception:  # a broken log call must not fail the step
            self.handleError(record)




def install_log_handler(outbox: Outbox) -> None:
    handler = OutboxLogHandler(outbox)
    # "tasks" catches product modules that use logging.getLogger(__name__).
    for name in ("cumulusci", "tasks"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
