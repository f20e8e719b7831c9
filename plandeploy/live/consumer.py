"""One websocket on `/ws/notifications/`: check its Origin, read subscriptions, send events."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from plandeploy.live import identity, permissions
from plandeploy.live.hub import hub
from plandeploy.live.stats import STATS

logger = logging.getLogger(__name__)

PATH = "/ws/notifications/"
INVALID = json.dumps({"error": "Invalid subscription."})
# Messages a socket may leave unread before it is closed: a client that stopped reading
# must not make the process hold every event for it.
MAX_BACKLOG = 1000
# How long a subscription waits for the LISTEN connection before it is confirmed anyway
# (its events then come with the state re-sent once the connection is up).
READY_WAIT_SECONDS = 5.0

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Socket:
    """The outgoing side of one websocket: a queue drained by its own task, so a slow
    client delays only itself."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.groups: set[str] = set()
        self.overflowed = asyncio.Event()

    def deliver(self, text: str) -> None:
        if self._outbox.qsize() >= MAX_BACKLOG:
            if not self.overflowed.is_set():
                STATS.dropped_slow_sockets += 1
                self.overflowed.set()
            return
        self._outbox.put_nowait(text)

    async def pump(self) -> None:
        while (text := await self._outbox.get()) is not None:
            await self._send({"type": "websocket.send", "text": text})


async def serve(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The ASGI application of one websocket."""
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    headers = identity.headers_of(scope)
    if not identity.origin_allowed(headers):
        await send({"type": "websocket.close", "code": 4403})  # before accept: HTTP 403
        return
    live = hub()
    session_credential = await live.run_db(identity.identify, headers)
    await send({"type": "websocket.accept"})
    socket = Socket(send)
    STATS.connections += 1
    pump = asyncio.create_task(socket.pump())
    overflow = asyncio.create_task(socket.overflowed.wait())
    try:
        while True:
            incoming = asyncio.create_task(receive())
            done, _ = await asyncio.wait({incoming, pump, overflow},
                                         return_when=asyncio.FIRST_COMPLETED)
            if incoming not in done:
                incoming.cancel()
                if overflow in done:
                    await send({"type": "websocket.close", "code": 1013})
                break
            event = incoming.result()
            if event["type"] == "websocket.disconnect":
                break
            if event["type"] == "websocket.receive":
                reply = await _subscribe(socket, session_credential,
                                         event.get("text") or event.get("bytes"))
                socket.deliver(reply)
    finally:
        STATS.connections -= 1
        live.unsubscribe_all(socket, socket.groups)
        for task in (pump, overflow):
            task.cancel()


async def _subscribe(socket: Socket, session_credential: identity.Credential,
                     text: str | bytes | None) -> str:
    request = permissions.parse(text)
    if request is None:
        return INVALID
    live = hub()
    try:
        grant = await live.run_db(permissions.authorize, request, session_credential)
    except Exception:
        logger.exception("live: a subscription could not be checked")
        return INVALID
    if grant is None:
        return INVALID
    live.subscribe(socket, grant)
    socket.groups.add(grant.group)
    if not live.ready.is_set():
        try:
            await asyncio.wait_for(live.ready.wait(), READY_WAIT_SECONDS)
        except TimeoutError:
            pass
    return json.dumps(grant.reply)
