"""A websocket client for the live-update tests: sign-in cookies, subscribing, reading events."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.test import Client
from websockets.sync.client import ClientConnection, connect

from plandeploy.runs.models import ScratchOrg


def session_cookie(user=None, scratch_org: ScratchOrg | None = None) -> str:
    """A real session (in the database) signed in as `user` and/or holding `scratch_org`."""
    client = Client()
    if user is not None:
        client.force_login(user)
    session = client.session
    if scratch_org is not None:
        session["scratch_org_id"] = str(scratch_org.uuid)
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def open_socket(base_url: str, cookie: str | None = None, origin: str | None = "default",
                path: str = "/ws/notifications/", **headers: str) -> ClientConnection:
    url = base_url.replace("http://", "ws://") + path
    extra = dict(headers)
    if cookie:
        extra["Cookie"] = cookie
    return connect(url, origin=base_url if origin == "default" else origin,
                   additional_headers=extra, open_timeout=30)


def subscribe(socket: ClientConnection, model: str, object_id: Any, **extra: Any) -> dict:
    socket.send(json.dumps({"model": model, "id": object_id, **extra}))
    return json.loads(socket.recv(timeout=30))


def follow(base_url: str, model: str, object_id: Any, cookie: str | None = None,
           **extra: Any) -> ClientConnection:
    """A socket subscribed to one object (the subscription must be accepted)."""
    socket = open_socket(base_url, cookie)
    reply = subscribe(socket, model, object_id, **extra)
    assert "ok" in reply, reply
    return socket


def next_event(socket: ClientConnection, event_type: str | None = None,
               timeout: float = 30) -> dict:
    """The next message (of `event_type`, when given); earlier other ones are skipped."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {event_type or 'message'} within {timeout} s")
        message = json.loads(socket.recv(timeout=remaining))
        if event_type is None or message.get("type") == event_type:
            return message


def quiet_for(socket: ClientConnection, seconds: float) -> list[dict]:
    """Every message that arrives within `seconds`."""
    received = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            received.append(json.loads(socket.recv(timeout=remaining)))
        except TimeoutError:
            break
    return received
