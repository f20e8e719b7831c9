"""This process's one LISTEN connection and the subscriptions it feeds.

Every state change is announced on one PostgreSQL channel; a web process LISTENs once (not
once per socket) and hands each event to the sockets that follow its object. Events for an
object nobody here follows are dropped at once. Events for one object are handled one at a
time, in order; the ones that arrive meanwhile wait, and a waiting state event is replaced
by a newer one of the same type, so a burst costs one read, and the last read always
happens after the last event (no final state is ever dropped).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from plandeploy.live import representations
from plandeploy.live.identity import Credential
from plandeploy.live.permissions import Grant
from plandeploy.live.stats import STATS
from plandeploy.runs.notify import CHANNEL

logger = logging.getLogger(__name__)

# How often an idle LISTEN connection is probed (a silently dead one gets no notification).
KEEPALIVE_SECONDS = 15.0
RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)
# Threads that read the database for sockets (each keeps one connection).
DB_THREADS = 2

# Names the LISTEN connection in pg_stat_activity.
APPLICATION_NAME = "plandeploy live updates"
DJANGO_ONLY_OPTIONS = frozenset({"pool", "isolation_level", "server_side_binding", "assume_role",
                                 "cursor_factory", "prepare_threshold"})

T = TypeVar("T")


class Subscriber(Protocol):
    def deliver(self, text: str) -> None: ...


@dataclass
class Group:
    """The subscribers of one object, and its events waiting to be delivered."""

    key: str
    subscriptions: set[tuple[Subscriber, Credential]] = field(default_factory=set)
    pending: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    worker: asyncio.Task | None = None


def conninfo() -> dict[str, Any]:
    params = settings.DATABASES["default"]
    values = {
        "dbname": params.get("NAME"), "user": params.get("USER"),
        "password": params.get("PASSWORD"), "host": params.get("HOST"),
        "port": params.get("PORT"),
    }
    given = {key: value for key, value in values.items() if value}
    # Django's own options (pool, isolation_level, ...) are no libpq parameters.
    libpq = {key: value for key, value in (params.get("OPTIONS") or {}).items()
             if isinstance(value, str | int) and key not in DJANGO_ONLY_OPTIONS}
    return given | libpq | {"application_name": APPLICATION_NAME}


def _in_db_thread(function: Callable[..., T], *args: Any) -> T:
    """Run `function` with a working connection: a server restart leaves this thread's
    connection broken, and Django would otherwise fail on it forever."""
    for attempt in (1, 2):
        try:
            return function(*args)
        except (OperationalError, InterfaceError):
            connection.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _counting(function: Callable[..., T], *args: Any) -> tuple[T, int]:
    """`function`'s result and the number of SQL statements it ran."""
    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        return function(*args), statements


class Hub:
    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.ready = asyncio.Event()
        self._executor = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="live-db")
        self._listener: asyncio.Task | None = None

    # -- the database, off the event loop ------------------------------------------------------

    async def run_db(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _in_db_thread, function, *args)

    # -- subscriptions -------------------------------------------------------------------------

    def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen_forever())

    def subscribe(self, subscriber: Subscriber, grant: Grant) -> bool:
        """Add a subscription; False if the subscriber already had it."""
        group = self.groups.get(grant.group)
        if group is None:
            group = self.groups[grant.group] = Group(grant.group, info=dict(grant.info))
        entry = (subscriber, grant.credential)
        if entry in group.subscriptions:
            return False
        group.subscriptions.add(entry)
        STATS.subscriptions += 1
        return True

    def unsubscribe_all(self, subscriber: Subscriber, keys: set[str]) -> None:
        for key in keys:
            group = self.groups.get(key)
            if group is None:
                continue
            gone = {entry for entry in group.subscriptions if entry[0] is subscriber}
            group.subscriptions -= gone
            STATS.subscriptions -= len(gone)
            if not group.subscriptions and group.worker is None:
                del self.groups[key]

    # -- events --------------------------------------------------------------------------------

    def on_notification(self, payload: str) -> None:
        STATS.events += 1
        try:
            event = json.loads(payload)
            key = f"{event['model']}.{event['id']}"
        except (ValueError, TypeError, KeyError):
            logger.warning("live: ignored a malformed notification")
            return
        group = self.groups.get(key)
        if group is not None:
            self._enqueue(group, event)

    def _enqueue(self, group: Group, event: dict[str, Any]) -> None:
        last = group.pending[-1] if group.pending else None
        if last is not None and last["type"] == event["type"] and (
            representations.is_state_event(event) or last == event
        ):
            group.pending[-1] = event  # it will be read after this event: one read for both
            STATS.coalesced += 1
        else:
            group.pending.append(event)
        if group.worker is None:
            group.worker = asyncio.get_running_loop().create_task(self._drain(group))

    async def _drain(self, group: Group) -> None:
        try:
            while group.pending and group.subscriptions:
                event = group.pending.pop(0)
                credentials = {credential for _, credential in group.subscriptions}
                try:
                    messages, statements = await self.run_db(
                        _counting, representations.build, event, credentials, group.info
                    )
                except Exception:
                    logger.exception("live: could not build the %s event of %s",
                                     event.get("type"), group.key)
                    continue
                STATS.queries += statements
                STATS.builds += len(set(messages.values()))
                for subscriber, credential in list(group.subscriptions):
                    text = messages.get(credential)
                    if text is not None:
                        subscriber.deliver(text)
                        STATS.deliveries += 1
        finally:
            group.worker = None
            if not group.subscriptions:
                group.pending.clear()
                if self.groups.get(group.key) is group:
                    del self.groups[group.key]

    def resync_all(self) -> None:
        """Send every followed object's current state: events may have been missed."""
        for group in list(self.groups.values()):
            model, object_id = group.key.split(".", 1)
            self._enqueue(group, {"type": representations.RESYNC, "model": model,
                                  "id": object_id})

    # -- the LISTEN connection -----------------------------------------------------------------

    async def _listen_forever(self) -> None:
        import psycopg

        connected_before = False
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    **conninfo(), autocommit=True
                ) as listen:
                    await listen.execute(f"LISTEN {CHANNEL}")
                    self.ready.set()
                    failures = 0
                    if connected_before:
                        STATS.listen_reconnects += 1
                        logger.warning("live: LISTEN connection restored; re-sending state")
                        self.resync_all()
                    connected_before = True
                    while True:
                        async for note in listen.notifies(timeout=KEEPALIVE_SECONDS):
                            self.on_notification(note.payload)
                        await listen.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.ready.clear()
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                logger.warning("live: LISTEN connection lost (%s); retrying in %.2f s",
                               type(error).__name__, delay)
                await asyncio.sleep(delay)


_hub: Hub | None = None


def hub() -> Hub:
    """The process's hub, started on first use (inside the server's event loop)."""
    global _hub
    if _hub is None:
        _hub = Hub()
    _hub.start()
    return _hub
