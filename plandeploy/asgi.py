"""ASGI entry point served by uvicorn (`plandeploy web`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plandeploy.settings")
application = get_asgi_application()
