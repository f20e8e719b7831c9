"""Fixtures shared by the job tests: a real web server per module and an event listener."""

import pytest

from plandeploy.runs.tests.factories import EventListener
from plandeploy.testing.processes import web_process


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), web_process() as base_url:
        yield base_url


@pytest.fixture
def events():
    listener = EventListener()
    yield listener
    listener.close()
