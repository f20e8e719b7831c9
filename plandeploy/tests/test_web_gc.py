"""The web application's loaded objects are frozen out of the garbage collector."""

import subprocess
import sys

from plandeploy.testing.processes import subprocess_env

PROBE = """
import gc
before = gc.get_freeze_count()
import plandeploy.asgi
from django.urls import get_resolver
print(before, gc.get_freeze_count(), len(get_resolver().url_patterns))
"""


def test_importing_the_web_application_freezes_what_it_loaded():
    """A full collection in a web process would otherwise walk every object Django and the
    views hold, pausing all of that process's requests (the load test's tail latency)."""
    result = subprocess.run([sys.executable, "-c", PROBE], env=subprocess_env(),
                            capture_output=True, text=True, timeout=120, check=True)
    before, frozen, patterns = (int(value) for value in result.stdout.split())
    assert before == 0 and patterns > 0
    # Django, DRF and every view module: far more than the interpreter starts with.
    assert frozen > 50_000
