"""Fixtures of the live-update tests: one real `plandeploy web` process for the module."""

from __future__ import annotations

import pytest

from plandeploy.testing.processes import web_process


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), web_process() as base_url:
        yield base_url
