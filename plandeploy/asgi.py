"""ASGI entry point served by uvicorn (`plandeploy web`): HTTP to Django, `/ws/notifications/`
to the live-update sockets, any other websocket refused.

HTTP goes to Django's WSGI handler on a pool of WEB_THREADS threads. Django's ASGI handler
would run every (sync) view on one thread per process, so a process served one request at
a time; the pool serves WEB_THREADS at once, each thread keeping its database connection
(CONN_MAX_AGE). The websockets stay on the event loop, where thousands may wait cheaply.
"""

import os

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plandeploy.settings")
django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402  (configured by the line above)

from plandeploy.live import consumer  # noqa: E402  (needs the apps loaded above)

http_application = WSGIMiddleware(django_application, workers=settings.WEB_THREADS)


async def application(scope, receive, send) -> None:
    if scope["type"] == "websocket":
        if scope["path"] == consumer.PATH:
            await consumer.serve(scope, receive, send)
        else:
            await receive()  # the connect message
            await send({"type": "websocket.close", "code": 4404})
        return
    await http_application(scope, receive, send)
