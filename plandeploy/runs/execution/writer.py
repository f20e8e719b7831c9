"""The batched writer of a run's results and log: few UPDATEs, and only the run's own columns."""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Model
from django.utils import timezone

from plandeploy.runs.models import Status
from plandeploy.runs.notify import CHANNEL

# Writes of results/log per run: at most one per this many seconds, plus one per step start.
LOG_WRITE_SECONDS = 0.5
# A step's end is written with the next write, at most this long after it.
STEP_END_WRITE_SECONDS = 0.2


@dataclass
class Writer:
    """Accumulates a run's results and log lines and writes them in batches.

    Batching keeps a chatty step from costing one row write (and one event) per log line.
    Only `results`, `log` and `edited_at` are written, by one UPDATE that merges the changed
    step entries into the stored results (jsonb `||`) and appends to the log, so a
    concurrent change of any other column (is_public, is_valid) is never overwritten.
    """

    model: type[Model]
    pk: int
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)
    announcements: list[str] = field(default_factory=list)  # NOTIFY payloads, in order
    last_write: float = 0.0
    # When set, a write is due at this time although LOG_WRITE_SECONDS has not passed.
    write_by: float | None = None
    writes: int = 0

    def step_entry(self, step_id: str) -> dict[str, Any]:
        entries = self.results.setdefault(step_id, [{}])
        if not entries or not isinstance(entries[0], dict):
            entries[:] = [{}]
        self.dirty.add(step_id)
        return entries[0]

    def add_log(self, step_id: str | None, text: str) -> None:
        self.log.append(text)
        if step_id is not None:
            entry = self.step_entry(step_id)
            escaped = html.escape(text)
            entry["logs"] = f"{entry['logs']}\n{escaped}" if entry.get("logs") else escaped

    def set_results(self, results: dict[str, list[dict[str, Any]]]) -> None:
        """Replace whole result entries (a preflight's check results), messages escaped."""
        for key, entries in results.items():
            self.results[key] = [
                {**item, "message": html.escape(item["message"])}
                if item.get("message") else item
                for item in entries
            ]
            self.dirty.add(key)

    def announce_soon(self, payload: str, seconds: float) -> None:
        """Send `payload` with the next write, which happens within `seconds`."""
        self.announcements.append(payload)
        deadline = time.monotonic() + seconds
        self.write_by = deadline if self.write_by is None else min(self.write_by, deadline)

    @property
    def pending(self) -> bool:
        return bool(self.dirty or self.log or self.announcements)

    def due(self) -> bool:
        if not self.pending:
            return False
        now = time.monotonic()
        return now - self.last_write >= LOG_WRITE_SECONDS or (
            self.write_by is not None and now >= self.write_by
        )

    def flush(self, mark_started: bool = False, started_announce: str | None = None) -> None:
        """Write what is pending and send the waiting announcements, in one statement.

        `mark_started`: also set the running state (started_at, if still unset and the row
        still started); the write that sets it also sends `started_announce`, first.
        """
        if not (self.pending or mark_started):
            return
        delta = {step_id: self.results[step_id] for step_id in self.dirty}
        log_text = "\n".join(self.log)
        now = timezone.now()
        sets, notifies = "", []
        before_where: list[Any] = [json.dumps(delta), log_text, log_text, log_text]
        after_where: list[Any] = []
        if mark_started:
            sets = (", started_at = CASE WHEN started_at IS NULL AND status = %s THEN %s "
                    "ELSE started_at END")
            before_where += [Status.STARTED, now]
            if started_announce:
                notifies.append("CASE WHEN started_at = %s THEN pg_notify(%s, %s) END")
                after_where += [now, CHANNEL, started_announce]
        for payload in self.announcements:
            notifies.append("pg_notify(%s, %s)")
            after_where += [CHANNEL, payload]
        sql = f"""
            UPDATE {self.model._meta.db_table}
               SET results = results || %s::jsonb,
                   log = CASE WHEN %s = '' THEN log WHEN log = '' THEN %s
                              ELSE log || E'\\n' || %s END,
                   edited_at = now(){sets}
             WHERE id = %s
        """
        if notifies:
            sql = (f"WITH written AS ({sql} RETURNING started_at) "
                   f"SELECT {', '.join(notifies)} FROM written")
        with connection.cursor() as cursor:
            cursor.execute(sql, [*before_where, self.pk, *after_where])
        self.dirty.clear()
        self.log.clear()
        self.announcements.clear()
        self.write_by = None
        self.last_write = time.monotonic()
        self.writes += 1
