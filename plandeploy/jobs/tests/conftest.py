"""Fixtures shared by the job tests: a real web server per module, an event listener, and
the `now` and step-less `plan` the maintenance tests age their rows against."""

import pytest
from django.utils import timezone

from plandeploy.runs.tests.factories import EventListener, publish_plan
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


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def plan():
    return publish_plan(steps=[], preflight_checks=[])
