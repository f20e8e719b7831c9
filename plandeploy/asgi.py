"""ASGI entry point served by uvicorn (`plandeploy web`): HTTP to Django, `/ws/notifications/`
to the live-update sockets, any other websocket refused."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plandeploy.settings")
django_application = get_asgi_application()

from plandeploy.live import consumer  # noqa: E402  (needs the apps loaded above)


async def application(scope, receive, send) -> None:
    if scope["type"] == "websocket":
        if scope["path"] == consumer.PATH:
            await consumer.serve(scope, receive, send)
        else:
            await receive()  # the connect message
            await send({"type": "websocket.close", "code": 4404})
        return
    await django_application(scope, receive, send)
