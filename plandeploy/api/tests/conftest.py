"""Fixtures for the public API tests: DRF's test client against the real test database."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def login(client: APIClient, user) -> APIClient:
    client.force_authenticate(user=None)
    client.force_login(user)
    return client
