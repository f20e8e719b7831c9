"""Counters of this web process's live updates (open sockets, events, queries), for /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


@dataclass
class LiveStats:
    connections: int = 0  # websockets open now
    subscriptions: int = 0  # (socket, object) pairs subscribed now
    events: int = 0  # notifications received on the LISTEN connection
    coalesced: int = 0  # notifications merged into one still waiting for the same object
    builds: int = 0  # representation builds (one per event and perspective)
    queries: int = 0  # SQL statements run to build representations
    deliveries: int = 0  # messages queued to sockets
    listen_reconnects: int = 0  # times the LISTEN connection was opened again
    dropped_slow_sockets: int = 0  # sockets closed because they did not read their messages


STATS = LiveStats()


class LiveCollector:
    """This process's live-update figures (unlike the database figures, they are per process)."""

    def collect(self) -> Iterator:
        yield GaugeMetricFamily(
            "plandeploy_websocket_connections",
            "Websocket connections open on this web process.", value=STATS.connections,
        )
        yield GaugeMetricFamily(
            "plandeploy_websocket_subscriptions",
            "Websocket subscriptions on this web process.", value=STATS.subscriptions,
        )
        for name, value, what in (
            ("events", STATS.events, "Notifications received by this web process."),
            ("coalesced_events", STATS.coalesced, "Notifications merged into a waiting one."),
            ("representation_builds", STATS.builds,
             "Representations built (once per event and perspective)."),
            ("representation_queries", STATS.queries, "SQL statements run to build them."),
            ("deliveries", STATS.deliveries, "Messages queued to websockets."),
            ("listen_reconnects", STATS.listen_reconnects, "Reconnects of the LISTEN connection."),
            ("dropped_slow_sockets", STATS.dropped_slow_sockets,
             "Websockets closed for not reading their messages."),
        ):
            yield CounterMetricFamily(f"plandeploy_live_{name}", what, value=value)
