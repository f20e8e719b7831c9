"""The benchmark settings (plandeploy's, plus the bare view) as a WSGI application, for the
servers benchmarks/serving.py compares with `plandeploy web`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_settings")
application = get_wsgi_application()
