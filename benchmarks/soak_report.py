"""The soak's closing report: figures and checks read from the database, printed as tables."""

from __future__ import annotations

import json
from pathlib import Path

import soak_checks
from django.db import connection
from rich.table import Table

from plandeploy.hashids import decode


def _durations(table: str, pks: list[int]) -> dict[str, list[float]]:
    """Seconds from creation to end, and from the first step to end, of the ended rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT EXTRACT(EPOCH FROM COALESCE(success_at, canceled_at, edited_at) - created_at),
                   EXTRACT(EPOCH FROM COALESCE(success_at, canceled_at, edited_at) - started_at)
              FROM {table} WHERE id = ANY(%s) AND status <> 'started'
            """,
            [pks],
        )
        rows = cursor.fetchall()
    return {"total": sorted(float(t) for t, _ in rows if t is not None),
            "running": sorted(float(r) for _, r in rows if r is not None)}


def _statuses(table: str, pks: list[int]) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status, count(*) FROM {table} WHERE id = ANY(%s) GROUP BY 1",
                       [pks])
        return dict(cursor.fetchall())


def _pct(values: list[float], q: float) -> str:
    if not values:
        return "-"
    return f"{values[min(len(values) - 1, round(q * (len(values) - 1)))]:.2f} s"


def _accepted_pks(tally) -> dict[str, list[int]]:
    pks: dict[str, list[int]] = {"run": [], "preflight": []}
    for accepted in tally.accepted:
        pks[accepted.kind].append(
            decode(accepted.id) if accepted.kind == "run" else int(accepted.id))
    return pks


def report(args, soak, fleet, watcher, home: Path, *, since: float, until: float,
           recovery: float, workload_seconds: float, console) -> int:
    from django.conf import settings

    tally = soak.tally
    pks = _accepted_pks(tally)
    disruptions = [e.at for e in fleet.events if e.kind in ("kill", "term", "exited")]
    disruptions += [e.at for e in fleet.events if e.kind in ("pg_stop", "pg_start")]
    last_kill = max(disruptions, default=since)
    reasons_check, reason_counts = soak_checks.reasons()
    checks = [
        soak_checks.lost_jobs(pks),
        soak_checks.stuck_rows(),
        reasons_check,
        soak_checks.overlaps(),
        soak_checks.periodic_ticks(watcher, [s for s in settings.SCHEDULES
                                             if settings.SCHEDULES[s]],
                                   args.tick, disruptions, recovery, since, until, last_kill),
        soak_checks.orphan_workspaces(Path(settings.LOCAL_ORGS_ROOT)),
        soak_checks.Check("processes that died by themselves", fleet.count("exited") == 0,
                          str(fleet.count("exited")),
                          [f"{e.what}: {e.detail}" for e in fleet.events if e.kind == "exited"]),
        soak_checks.Check("unexpected API answers", not tally.rejected,
                          str(len(tally.rejected)), tally.rejected[:20]),
    ]
    runs = _durations("runs_job", pks["run"])
    preflights = _durations("runs_preflightresult", pks["preflight"])
    run_statuses = _statuses("runs_job", pks["run"])
    preflight_statuses = _statuses("runs_preflightresult", pks["preflight"])
    run_homes = len(list((home / "tmp").glob("plandeploy-run-*")))
    figures = {
        "runs accepted": len(pks["run"]),
        "preflights accepted": len(pks["preflight"]),
        "runs by status": run_statuses,
        "preflights by status": preflight_statuses,
        "workload seconds": round(workload_seconds, 1),
        "runs/s": round(len(pks["run"]) / workload_seconds, 2),
        "runs+preflights/s": round(sum(map(len, pks.values())) / workload_seconds, 2),
        "run duration p50 (created->end)": _pct(runs["total"], .5),
        "run duration p99 (created->end)": _pct(runs["total"], .99),
        "run duration p50 (first step->end)": _pct(runs["running"], .5),
        "run duration p99 (first step->end)": _pct(runs["running"], .99),
        "preflight duration p50 (created->end)": _pct(preflights["total"], .5),
        "preflight duration p99 (created->end)": _pct(preflights["total"], .99),
        "SIGKILLs": fleet.count("kill"),
        "SIGTERMs": fleet.count("term"),
        "process restarts": fleet.count("restart"),
        "PostgreSQL restarts": fleet.count("pg_start"),
        "busy refusals retried": tally.busy_refusals,
        "second-run probes refused / accepted": f"{tally.probes_refused} / "
                                                f"{tally.probes_accepted}",
        "org reconnects": tally.reconnects,
        "transport errors / 5xx retried": tally.retried_errors,
        "kills that left processes behind": fleet.count("orphans"),
        "run home directories left in TMPDIR": run_homes,
        "schedule polls that failed (database down)": watcher.errors,
    }
    _print(console, figures, checks, reason_counts, fleet)
    if args.report:
        args.report.write_text(json.dumps({
            "figures": figures,
            "checks": {c.name: {"ok": c.ok, "figure": c.figure, "details": c.details[:50]}
                       for c in checks},
        }, indent=2, default=str))
    return 0 if all(c.ok for c in checks) else 1


def _print(console, figures, checks, reason_counts, fleet) -> None:
    table = Table(title="soak figures")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, ", ".join(f"{k} {v}" for k, v in value.items())
                      if isinstance(value, dict) else str(value))
    console.print(table)
    if reason_counts:
        reasons = Table(title="reasons of canceled/failed rows")
        for column in ("kind", "status", "reason", "rows"):
            reasons.add_column(column)
        for (kind, status, text), count in reason_counts.most_common():
            reasons.add_row(kind, status, text, str(count))
        console.print(reasons)
    for event in fleet.events:
        if event.kind in ("exited", "orphans"):
            console.print(f"[yellow]{event.kind}[/] {event.what}: {event.detail}")
    verdict = Table(title="checks (from the database)")
    for column in ("check", "result", "figure"):
        verdict.add_column(column)
    for check in checks:
        verdict.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAILED[/]",
                        check.figure)
    console.print(verdict)
    for check in checks:
        for line in check.details[:20] if not check.ok else ():
            console.print(f"  [red]{check.name}[/]: {line}")
