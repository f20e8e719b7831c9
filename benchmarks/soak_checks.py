"""The soak's verdict, read from the database: nothing lost, nothing stuck, nothing overlapping.

Each check returns a `Check`: a name, whether it holds, the figure, and details to print
when it does not.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection

ENDED = ("complete", "failed", "canceled")
RUN_TABLES = {"run": "runs_job", "preflight": "runs_preflightresult"}


@dataclass
class Check:
    name: str
    ok: bool
    figure: str
    details: list[str] = field(default_factory=list)


def _rows(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def lost_jobs(accepted: dict[str, list[int]]) -> Check:
    """Accepted by the API (a 201) but neither complete, failed nor canceled (or gone)."""
    details = []
    for kind, pks in accepted.items():
        found = dict(_rows(f"SELECT id, status FROM {RUN_TABLES[kind]} WHERE id = ANY(%s)",
                           [pks]))
        for pk in pks:
            status = found.get(pk)
            if status not in ENDED:
                details.append(f"{kind} {pk}: {status or 'row missing'}")
    total = sum(len(pks) for pks in accepted.values())
    return Check("jobs lost (accepted, not ended)", not details,
                 f"{len(details)} of {total}", details)


def stuck_rows() -> Check:
    """Rows left `started` (runs, preflights, scratch orgs) and queue rows left `doing`."""
    details = []
    for table in ("runs_job", "runs_preflightresult", "runs_scratchorg"):
        for pk, created in _rows(f"SELECT id, created_at FROM {table} "
                                 "WHERE status = 'started' ORDER BY id"):
            details.append(f"{table} {pk} started (created {created:%H:%M:%S})")
    for pk, task, worker in _rows("SELECT id, task_name, worker_id FROM procrastinate_jobs "
                                  "WHERE status = 'doing' ORDER BY id"):
        details.append(f"queue job {pk} ({task}) doing, worker {worker}")
    return Check("rows left started / queue rows left doing", not details,
                 str(len(details)), details)


def reasons() -> tuple[Check, Counter]:
    """Every canceled or failed run and preflight says why, in words a user can read."""
    counts: Counter = Counter()
    bad = []
    for kind, table in RUN_TABLES.items():
        for pk, status, exception in _rows(
            f"SELECT id, status, exception FROM {table} WHERE status IN ('canceled', 'failed')"
        ):
            text = (exception or "").strip()
            counts[(kind, status, text[:90])] += 1
            if not _readable(text):
                bad.append(f"{kind} {pk} {status}: {text[:120]!r}")
    return Check("canceled/failed rows without a readable reason", not bad,
                 f"{len(bad)} of {sum(counts.values())}", bad), counts


def _readable(text: str) -> bool:
    return (
        len(text) >= 10
        and "Traceback (most recent call last)" not in text
        and not text.startswith(("<", "{", "["))
        and text[0].isupper()
    )


def overlaps() -> Check:
    """At no time two runs (plan runs or preflights) on one org.

    Each row lasts from its creation (it counts as running from then: the one-per-org rule
    refuses a second one) to its end (success_at, canceled_at, or for failed rows the last
    edit). One statement: per org, each row against the latest end among earlier rows.
    """
    rows = _rows(
        """
        WITH runs AS (
            SELECT 'run' AS kind, id, org_id, created_at AS began,
                   COALESCE(success_at, canceled_at, edited_at) AS ended
              FROM runs_job WHERE org_id IS NOT NULL AND status <> 'started'
            UNION ALL
            SELECT 'preflight', id, org_id, created_at,
                   COALESCE(success_at, canceled_at, edited_at)
              FROM runs_preflightresult WHERE org_id IS NOT NULL AND status <> 'started'
        ), ordered AS (
            SELECT *, max(ended) OVER (PARTITION BY org_id ORDER BY began, kind, id
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                      AS earlier_end
              FROM runs
        )
        SELECT org_id, kind, id, began, earlier_end FROM ordered
         WHERE earlier_end > began ORDER BY began
        """
    )
    details = [f"org {org}: {kind} {pk} began {began:%H:%M:%S.%f} before an earlier run "
               f"ended ({earlier:%H:%M:%S.%f})" for org, kind, pk, began, earlier in rows]
    return Check("two runs on one org at once", not rows, str(len(rows)), details)


def orphan_workspaces(orgs_root: Path) -> Check:
    """Workspace directories that no org connection and no scratch org refers to."""
    scratch_root = orgs_root / "scratch"
    on_disk = {p for p in orgs_root.iterdir() if p.is_dir() and p != scratch_root} \
        if orgs_root.exists() else set()
    if scratch_root.exists():
        on_disk |= {p for p in scratch_root.iterdir() if p.is_dir()}
    # Rows store the workspace relative to the orgs root (older rows: absolute, kept by `/`).
    referenced = {orgs_root / w for (w,) in _rows(
        "SELECT workspace FROM accounts_orgconnection WHERE workspace <> ''")}
    referenced |= {scratch_root / org for (org,) in _rows(
        "SELECT org_id FROM runs_scratchorg WHERE org_id IS NOT NULL")}
    left = sorted(str(p) for p in on_disk - referenced)
    return Check("workspaces nothing references", not left,
                 f"{len(left)} of {len(on_disk)}", left)


class ScheduleWatcher:
    """Polls `jobs_schedulesuccess` (one row per schedule: its last success) from a thread of
    its own, so every success between two polls shorter than a tick is seen."""

    def __init__(self, database_url: str, interval: float = 1.0) -> None:
        self.database_url = database_url
        self.interval = interval
        self.successes: dict[str, set[float]] = {}
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True, name="schedules")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        import psycopg

        conn = None
        while not self._stop.wait(self.interval):
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=3)
                for name, at in conn.execute(
                    "SELECT name, EXTRACT(EPOCH FROM succeeded_at)::float8 "
                    "FROM jobs_schedulesuccess"
                ):
                    self.successes.setdefault(name, set()).add(at)
            except psycopg.Error:
                # The database restarts during the soak: connect again next time.
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


def periodic_ticks(watcher: ScheduleWatcher, schedules: list[str], tick: float,
                   disruptions: list[float], recovery: float, since: float, until: float,
                   required_after: float) -> Check:
    """Every schedule succeeded within each tick that no kill or restart disturbed.

    A tick T (a multiple of `tick`) is checked when no disruption fell in
    [T - recovery, T + tick): a job killed just before T holds its lock until the dead
    worker is detected. Ticks after `required_after` (the last disruption) must all be
    checked, and at least one of them must exist.
    """
    first = (int(since // tick) + 1) * tick
    checked, missed, after_last = 0, [], 0
    t = first
    while t + tick <= until:
        if not any(t - recovery <= d < t + tick for d in disruptions):
            checked += 1
            after_last += t > required_after
            for name in schedules:
                if not any(t <= s < t + tick for s in watcher.successes.get(name, ())):
                    missed.append(f"{name} did not succeed in the tick at "
                                  f"{time.strftime('%H:%M:%S', time.localtime(t))}")
        t += tick
    ok = not missed and after_last > 0
    details = list(missed)
    if after_last == 0:
        details.append("no undisturbed tick after the last kill was observed")
    return Check("periodic jobs missing a tick", ok,
                 f"{len(missed)} misses in {checked} ticks ({after_last} after the last kill)",
                 details)
