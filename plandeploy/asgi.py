"""ASGI entry point served by uvicorn (`plandeploy web`): HTTP to Django, `/ws/notifications/`
to the live-update sockets, any other websocket refused.

HTTP goes to Django's WSGI handler on a pool of WEB_THREADS threads. Django's ASGI handler
would run every (sync) view on one thread per process, so a process served one request at
a time; the pool serves WEB_THREADS at once, each thread keeping its database connection
(CONN_MAX_AGE). The websockets stay on the event loop, where thousands may wait cheaply.

Once everything is loaded the process's objects are frozen out of the garbage collector:
otherwise each full collection walks all of Django, the views and the catalogue caches (a
pause of tens of milliseconds here), and every request waiting on that process waits it out,
which is most of the 99th percentile latency under load.
"""

import gc
import os

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plandeploy.settings")
django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402  (configured by the line above)

from plandeploy.live import consumer  # noqa: E402  (needs the apps loaded above)

http_application = WSGIMiddleware(django_application, workers=settings.WEB_THREADS)

get_resolver().url_patterns  # noqa: B018  (imports every view module now, to be frozen too)
gc.freeze()


async def application(scope, receive, send) -> None:
    if scope["type"] == "websocket":
        if scope["path"] == consumer.PATH:
            await consumer.serve(scope, receive, send)
        else:
            await receive()  # the connect message
            await send({"type": "websocket.close", "code": 4404})
        return
    await http_application(scope, receive, send)
