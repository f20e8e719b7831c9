"""Log output: text or one JSON object per line, request ids, and the web access log."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Fields bound to everything logged in the current request or job.
_context: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "plandeploy_log_context", default=None
)
CONTEXT_FIELDS = ("request_id", "job_id", "task", "org_id_hash")
access_logger = logging.getLogger("plandeploy.access")


@contextlib.contextmanager
def bound(**fields: object) -> Iterator[None]:
    """Add `fields` (e.g. job_id=, task=) to every record logged inside the block."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: object) -> None:
    """Add `fields` to the records logged for the rest of the enclosing `bound` block (a job
    learns its org only once it has read its row). Outside any block it does nothing."""
    current = _context.get()
    if current is not None:
        # Each `bound` block has a dict of its own: this changes nothing outside the block.
        current.update(fields)


def org_id_hash(org_id: str | None) -> str | None:
    """A stable stand-in for an org id in logs: the same org gives the same value on every
    host (SECRET_KEY is shared), and the id itself, customer data, is never written."""
    if not org_id:
        return None
    digest = hmac.new(settings.SECRET_KEY.encode(), f"org:{org_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


class ContextFilter(logging.Filter):
    """Puts the bound fields, and the job of procrastinate's own records, on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        job = getattr(record, "job", None)
        if isinstance(job, dict):
            if getattr(record, "job_id", None) is None:
                record.job_id = job.get("id")
            if getattr(record, "task", None) is None:
                record.task = job.get("task_name")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the context when known."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in (*CONTEXT_FIELDS, "method", "path", "status", "duration_ms"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _request_id(request: HttpRequest) -> str:
    given = request.headers.get("X-Request-ID", "")
    # A caller's id is kept only when it is short and plain: it is copied into every log line.
    if given and len(given) <= 64 and all(c.isalnum() or c in "-_." for c in given):
        return given
    return uuid.uuid4().hex


class AccessLogMiddleware:
    """Gives each request an id (X-Request-ID, kept from the caller when plain) and, when
    ACCESS_LOG is on, logs its method, path, status and duration under that id.

    Query strings are left out: they may carry tokens, codes or signed parameters.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = _request_id(request)
        started = time.monotonic()
        with bound(request_id=request_id):
            response = self.get_response(request)
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            if settings.ACCESS_LOG:
                access_logger.info(
                    "%s %s %s %.1f ms", request.method, request.path, response.status_code,
                    duration_ms,
                    extra={"method": request.method, "path": request.path,
                           "status": response.status_code, "duration_ms": duration_ms},
                )
        response["X-Request-ID"] = request_id
        return response
