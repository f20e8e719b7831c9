"""pytest plugin: give the test session a real PostgreSQL before Django connects.

Loaded with `-p plandeploy.testing.plugin` (pyproject addopts), so it is imported
before pytest-django reads the settings. With DATABASE_URL unset the session
starts the embedded PostgreSQL of a state directory of its own (PLANDEPLOY_HOME,
default `.plandeploy/test`) and stops it at the end if it started it.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("PLANDEPLOY_HOME", str(Path(".plandeploy/test").resolve()))
os.environ["PLANDEPLOY_HOME"] = str(Path(os.environ["PLANDEPLOY_HOME"]).resolve())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plandeploy.settings")
# Test servers answer as 127.0.0.1, localhost and Django's test client host.
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("LOG_LEVEL", "WARNING")

_owned_database = None


def pytest_configure(config) -> None:
    global _owned_database
    if os.environ.get("DATABASE_URL"):
        return
    from plandeploy import embedded_db

    database = embedded_db.for_home(os.environ["PLANDEPLOY_HOME"])
    if database.start():
        _owned_database = database


def pytest_unconfigure(config) -> None:
    if _owned_database is not None:
        _owned_database.stop()
