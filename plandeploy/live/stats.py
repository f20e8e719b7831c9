"""Counters of the live updates (open sockets, events, queries), for /metrics.

`plandeploy web` may run several worker processes behind one port, and a scrape reaches any
one of them: each process keeps its counters in a small memory-mapped file of a directory
the server gives all its workers (WEB_STATS_DIR), and /metrics sums the files of the live
processes. Without that directory (one process, tests) the counters are this process's own.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from plandeploy.pids import process_is_alive

# The directory shared by one server's worker processes (set by `plandeploy web`).
STATS_DIR_VARIABLE = "WEB_STATS_DIR"

FIELDS = (
    "connections",  # websockets open now
    "subscriptions",  # (socket, object) pairs subscribed now
    "events",  # notifications received on the LISTEN connection
    "coalesced",  # notifications merged into one still waiting for the same object
    "builds",  # representation builds (one per event and perspective)
    "queries",  # SQL statements run to build representations
    "deliveries",  # messages queued to sockets
    "listen_reconnects",  # times the LISTEN connection was opened again
    "dropped_slow_sockets",  # sockets closed because they did not read their messages
)
_SIZE = 8 * len(FIELDS)


def _stats_dir() -> Path | None:
    value = os.environ.get(STATS_DIR_VARIABLE, "")
    return Path(value) if value else None


class LiveStats:
    """One process's counters, as attributes (`STATS.events += 1`), kept in a shared file
    when the server gave a directory for them, else in memory."""

    def __init__(self) -> None:
        object.__setattr__(self, "_pid", None)
        object.__setattr__(self, "_values", None)

    def _view(self) -> memoryview:
        # Opened on first use in each process (a forked child gets a file of its own).
        if self._pid != os.getpid():
            directory = _stats_dir()
            if directory is None:
                values = memoryview(bytearray(_SIZE)).cast("q")
            else:
                directory.mkdir(parents=True, exist_ok=True)
                path = directory / str(os.getpid())
                with path.open("w+b") as handle:
                    handle.write(bytes(_SIZE))
                    handle.flush()
                    values = memoryview(mmap.mmap(handle.fileno(), _SIZE)).cast("q")
            object.__setattr__(self, "_values", values)
            object.__setattr__(self, "_pid", os.getpid())
        return self._values

    def __getattr__(self, name: str) -> int:
        if name not in FIELDS:
            raise AttributeError(name)
        return self._view()[FIELDS.index(name)]

    def __setattr__(self, name: str, value: int) -> None:
        if name not in FIELDS:
            raise AttributeError(name)
        self._view()[FIELDS.index(name)] = value


STATS = LiveStats()


def totals() -> dict[str, int]:
    """The counters summed over the server's live worker processes (or this process's)."""
    directory = _stats_dir()
    STATS._view()  # this process counts even before its first event
    if directory is None:
        return {name: getattr(STATS, name) for name in FIELDS}
    sums = dict.fromkeys(FIELDS, 0)
    for path in directory.iterdir():
        if not path.name.isdigit():
            continue
        if not process_is_alive(int(path.name)):
            # A worker that died took its sockets with it; its file would count them forever.
            path.unlink(missing_ok=True)
            continue
        data = path.read_bytes()
        if len(data) != _SIZE:
            continue
        for name, value in zip(FIELDS, memoryview(data).cast("q"), strict=True):
            sums[name] += value
    return sums


class LiveCollector:
    """The live-update figures of every worker process of this server."""

    def collect(self) -> Iterator:
        values = totals()
        yield GaugeMetricFamily(
            "plandeploy_websocket_connections",
            "Websocket connections open on this web server.", value=values["connections"],
        )
        yield GaugeMetricFamily(
            "plandeploy_websocket_subscriptions",
            "Websocket subscriptions on this web server.", value=values["subscriptions"],
        )
        for name, key, what in (
            ("events", "events", "Notifications received by this web server."),
            ("coalesced_events", "coalesced", "Notifications merged into a waiting one."),
            ("representation_builds", "builds",
             "Representations built (once per event and perspective)."),
            ("representation_queries", "queries", "SQL statements run to build them."),
            ("deliveries", "deliveries", "Messages queued to websockets."),
            ("listen_reconnects", "listen_reconnects", "Reconnects of the LISTEN connection."),
            ("dropped_slow_sockets", "dropped_slow_sockets",
             "Websockets closed for not reading their messages."),
        ):
            yield CounterMetricFamily(f"plandeploy_live_{name}", what, value=values[key])
