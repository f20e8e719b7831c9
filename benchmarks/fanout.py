"""Benchmark of live updates: many websocket subscribers on one job, fed by one LISTEN.

A real `plandeploy web` process (uvicorn, one worker) serves a database this script
prepares in its own state directory (embedded PostgreSQL). This process opens the
websockets (asyncio `websockets` client), all subscribed to one public job, and then
writes to the job the way a run does: one UPDATE of its results plus a NOTIFY in one
transaction, one write every --interval seconds so that each write is its own event.

  .venv/bin/python benchmarks/fanout.py                         # 10 and 200 subscribers
  .venv/bin/python benchmarks/fanout.py --subscribers 50 --events 20

Per subscriber count it prints:
- latency: from just before the write to the message's arrival at each subscriber,
  p50/p99 over every (event, subscriber) pair (the clients share this process, so their
  own scheduling is included);
- queries per event, read from the web process's /metrics counters (SQL run to build
  representations, divided by the events it received);
- memory per open socket: the web process's RSS growth while the sockets were opened,
  divided by their number (after one socket has warmed up the process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("PLANDEPLOY_HOME", "/tmp/pd-bench-fanout")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from benchmarks.api import percentile, setup, web_server  # noqa: E402

MARKER = "bench"


def prepare_job():
    from plandeploy.catalog.tests import factories
    from plandeploy.runs.models import Job, Status

    owner = factories.user()
    return Job.objects.create(plan=factories.plan(steps=5), user=owner, org_id=owner.org_id,
                              is_public=True, status=Status.COMPLETE)


def write_event(job_pk: int, public_id: str, n: int) -> float:
    """One run-like write (results + NOTIFY, one commit); returns the time it began."""
    from django.db import connection, transaction

    from plandeploy.runs.models import Job
    from plandeploy.runs.notify import CHANNEL, event_payload

    began = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Job._meta.db_table} SET results = results || %s::jsonb, "
            "edited_at = now() WHERE id = %s",
            [json.dumps({MARKER: [{"status": "ok", "message": str(n)}]}), job_pk],
        )
        cursor.execute("SELECT pg_notify(%s, %s)", [
            CHANNEL, event_payload("TASK_COMPLETED", "job", public_id, step=MARKER, status="ok"),
        ])
    return began


def live_counters(base: str) -> dict[str, float]:
    import httpx

    wanted = {"plandeploy_live_events_total": "events",
              "plandeploy_live_representation_queries_total": "queries",
              "plandeploy_live_representation_builds_total": "builds",
              "plandeploy_websocket_connections": "connections"}
    counters = {}
    for row in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        name, _, value = row.partition(" ")
        if name in wanted:
            counters[wanted[name]] = float(value)
    return counters


def web_rss() -> int:
    import psutil

    (web,) = [child for child in psutil.Process().children()
              if "web" in child.cmdline()]
    return web.memory_info().rss


async def open_subscriber(ws_url: str, origin: str, job_id: str):
    from websockets.asyncio.client import connect

    socket = await connect(ws_url, origin=origin, max_queue=None)
    await socket.send(json.dumps({"model": "job", "id": job_id}))
    reply = json.loads(await socket.recv())
    assert "ok" in reply, reply
    return socket


async def collect(socket, arrivals: dict[int, float], expected: int) -> None:
    """Record when each write's state first reached this socket: a message showing write n
    delivers every write up to n (two writes close together may come as one message)."""
    while len(arrivals) < expected:
        message = json.loads(await socket.recv())
        entry = message["payload"]["results"].get(MARKER)
        if entry:
            now = time.perf_counter()
            for n in range(int(entry[0]["message"]) + 1):
                arrivals.setdefault(n, now)


async def measure(base: str, job, subscribers: int, events: int, interval: float) -> dict:
    ws_url = base.replace("http://", "ws://") + "/ws/notifications/"
    warm = await open_subscriber(ws_url, base, job.hashid)
    await asyncio.sleep(0.5)
    rss_before = web_rss()
    sockets = [await open_subscriber(ws_url, base, job.hashid) for _ in range(subscribers)]
    await asyncio.sleep(0.5)
    rss_after = web_rss()
    before = live_counters(base)
    arrivals: list[dict[int, float]] = [{} for _ in sockets]
    readers = [asyncio.create_task(collect(socket, seen, events))
               for socket, seen in zip(sockets, arrivals, strict=True)]
    written: dict[int, float] = {}
    for n in range(events):
        written[n] = await asyncio.to_thread(write_event, job.pk, job.hashid, n)
        await asyncio.sleep(interval)
    await asyncio.wait_for(asyncio.gather(*readers), timeout=60)
    after = live_counters(base)
    latencies = [seen[n] - written[n] for seen in arrivals for n in written]
    for socket in [warm, *sockets]:
        await socket.close()
    received = after["events"] - before["events"]
    return {
        "subscribers": subscribers,
        "deliveries": len(latencies),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        "queries_per_event": (after["queries"] - before["queries"]) / received,
        "builds_per_event": (after["builds"] - before["builds"]) / received,
        "kib_per_socket": (rss_after - rss_before) / subscribers / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.1,
                        help="seconds between writes (each write its own event)")
    parser.add_argument("--port", type=int, default=18432)
    args = parser.parse_args()
    import uvloop

    setup()
    job = prepare_job()
    print(f"load average {os.getloadavg()[0]:.1f} at start; "
          f"state dir {os.environ['PLANDEPLOY_HOME']}; one public job {job.hashid}; "
          f"{args.events} writes {args.interval:g} s apart per run; 1 uvicorn worker; "
          f"clients in this process (uvloop); {os.cpu_count()} cores shared by server, "
          "database and clients")
    with web_server(args.port, 1) as base:
        for subscribers in args.subscribers:
            # The clients run on uvloop, as the server does, so that their own cost
            # weighs less in the figures.
            result = uvloop.run(measure(base, job, subscribers, args.events, args.interval))
            print(f"{result['subscribers']:>4} subscribers: write->delivery p50 "
                  f"{result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
                  f"max {result['max_ms']:6.1f} ms  (n={result['deliveries']}); "
                  f"{result['queries_per_event']:.1f} queries and "
                  f"{result['builds_per_event']:.1f} builds per event; "
                  f"{result['kib_per_socket']:.0f} KiB RSS per open socket")


if __name__ == "__main__":
    main()
