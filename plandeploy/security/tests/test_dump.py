"""A dump of the database (pg_dump) holds no secret in the clear.

The check that covers the whole suite runs once, at the end of the test session
(plandeploy/testing/at_rest.py, from the test plugin): it dumps the test database, which by
then holds a copy of every row any test wrote, and searches it for every password, org
token, API token and scratch-org e-mail the tests created, and the texts users see of runs
for org ids; a finding fails the session. Here: that check does find a secret that is in
the clear, and realistic data made the way users make it (sign-in with a password, an org
connected with tokens, an API token issued, a scratch org requested with an e-mail) leaves
none in a dump of its own.
"""

from __future__ import annotations

import secrets
import subprocess

import pytest
from django.test import Client
from rest_framework.test import APIClient

from plandeploy.accounts.models import OrgConnection, User
from plandeploy.accounts.tokens import issue_token
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import ScratchOrg
from plandeploy.testing import at_rest, processes
from plandeploy.tests.queue_rows import clear_queue

pytestmark = pytest.mark.django_db(transaction=True)


def pg_dump_binary() -> str:
    found = at_rest.pg_dump_binary()
    if found is None:
        pytest.fail("no pg_dump: the embedded PostgreSQL ships one")
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


def test_the_end_of_session_check_finds_a_secret_stored_in_the_clear(_secrets_at_rest):
    """A token written past its encrypting field, as a careless migration or raw SQL would."""
    from django.db import connection

    if _secrets_at_rest is None:
        pytest.skip("the end-of-session dump check is off (--no-dump-check)")
    plain = "leaked-" + secrets.token_urlsafe(24)
    user = factories.user()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_orgconnection SET access_token = %s WHERE user_id = %s",
                       [plain, user.pk])
    collected = at_rest.Collected()
    collected.secret("org access token", plain)
    keeper = at_rest.Keeper(processes.test_database_url())
    try:
        findings = at_rest.check_dump(keeper, collected)
    finally:
        # This test's own leak must not fail the session: remove its copies.
        keeper.run(f"DELETE FROM {at_rest.WRITTEN_ROWS} WHERE row LIKE %s", [f"%{plain}%"])
        keeper.close()
    assert findings == ["org access token in the clear in the dump (accounts_orgconnection)"]


@pytest.mark.django_db(transaction=False)
def test_the_rows_of_a_test_that_rolls_back_reach_the_check(_secrets_at_rest):
    """Before the rollback the plugin copies what the test's transaction wrote; here: that
    the triggers did record it, under this transaction."""
    from django.db import connection

    if _secrets_at_rest is None:
        pytest.skip("the end-of-session dump check is off (--no-dump-check)")
    user = factories.user()
    with connection.cursor() as cursor:
        rows = at_rest.rows_of_this_transaction(cursor, planted=[])
    assert {"accounts_user", "accounts_orgconnection"} <= {table for table, _row in rows}
    assert any(user.username in row for table, row in rows if table == "accounts_user")
