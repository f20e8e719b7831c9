"""The maintenance rules on the real database, each boundary just inside and just outside.

Every run is given the same `now` the rows were aged against, so "exactly at the limit"
is exact. Preflight expiry and plan averages are in test_maintenance_expiry_averages.py;
notifications, the worker and the schedules in test_maintenance_live.py.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from plandeploy import taskdefs
from plandeploy.accounts.models import FullOrgType, OrgConnection, OrgType, User
from plandeploy.jobs.tests.maintenance_rows import SECOND, job, preflight
from plandeploy.maintenance import users
from plandeploy.maintenance.services import (
    run_cleanup_user_data,
)
from plandeploy.runs.models import Job, PreflightResult, Status
from plandeploy.runs.tests.factories import org_id

pytestmark = pytest.mark.django_db

DEAD_AFTER = timedelta(seconds=settings.JOB_TIMEOUT + 120)
TOKEN_LIFETIME = timedelta(minutes=settings.TOKEN_LIFETIME_MINUTES)
USER_RETENTION = timedelta(days=settings.USER_RETENTION_DAYS)
EXCEPTION_RETENTION = timedelta(days=settings.EXCEPTION_RETENTION_DAYS)
API_TOKEN_LIFETIME = timedelta(days=settings.API_TOKEN_EXPIRE_AFTER_DAYS)
PREFLIGHT_LIFETIME = timedelta(minutes=settings.PREFLIGHT_LIFETIME_MINUTES)



def user_with_token(now, *, staff=False, token_age=timedelta(0), last_login=None,
                    org_type=OrgType.SALESFORCE) -> User:
    user = User.objects.create(
        username=f"u-{secrets.token_hex(4)}", is_staff=staff,
        last_login=now if last_login is None else last_login,
    )
    OrgConnection.objects.create(
        user=user, org_type=org_type, org_id=org_id(), org_name="Acme",
        organization_type="Developer Edition",
        full_org_type=FullOrgType.DEVELOPER, instance_url="https://acme.example",
        org_username="admin@acme.example", workspace="/tmp/acme",
        access_token="access-secret", refresh_token="refresh-secret",
        token_created_at=now - token_age,
    )
    return user


def status_of(row) -> str:
    return type(row).objects.get(pk=row.pk).status


# -- Rule 1, dead runs: test_maintenance_dead_runs.py ----------------------------------


# -- Rule 2: org tokens ----------------------------------------------------------------


def connection_of(user) -> OrgConnection:
    return OrgConnection.objects.get(user=user)


def token_of(user) -> str | None:
    """The user's org access token; None once it expired (or its connection was deleted)."""
    row = OrgConnection.objects.filter(user=user).first()
    return row.access_token if row else None


def test_org_token_expires_at_its_lifetime_not_before(now):
    due = user_with_token(now, token_age=TOKEN_LIFETIME)
    fresh = user_with_token(now, token_age=TOKEN_LIFETIME - SECOND)

    counts = run_cleanup_user_data(now)

    assert counts["org_tokens_expired"] == 1
    assert token_of(due) is None
    assert User.objects.get(pk=due.pk).valid_token_for is None
    assert connection_of(fresh).access_token == "access-secret"
    assert User.objects.get(pk=fresh.pk).valid_token_for == connection_of(fresh).org_id


def test_non_staff_lose_their_salesforce_org_details_staff_and_local_orgs_keep_them(now):
    member = user_with_token(now, token_age=TOKEN_LIFETIME)
    staff = user_with_token(now, staff=True, token_age=TOKEN_LIFETIME)
    staff_org = connection_of(staff).org_id
    local = user_with_token(now, token_age=TOKEN_LIFETIME, org_type=OrgType.LOCAL)
    local_org = connection_of(local).org_id

    run_cleanup_user_data(now)

    # A local org is the user's identity and workspace: only its token goes.
    local_row = connection_of(local)
    assert (local_row.access_token, local_row.refresh_token, local_row.token_created_at) == (
        None, None, None)
    assert (local_row.org_type, local_row.org_id, local_row.workspace) == (
        OrgType.LOCAL, local_org, "/tmp/acme")
    # A member's Salesforce connection (the token and the org details that came with it)
    # is gone.
    assert not OrgConnection.objects.filter(user=member).exists()
    cleared = User.objects.get(pk=member.pk)
    assert (cleared.org_id, cleared.org_name, cleared.org_type, cleared.full_org_type,
            cleared.instance_url, cleared.sf_username, cleared.token) == (
        None, None, None, None, None, None, (None, None))
    kept = connection_of(staff)
    assert (kept.access_token, kept.refresh_token, kept.token_created_at) == (None, None, None)
    assert (kept.org_id, kept.org_name, kept.organization_type, kept.full_org_type,
            kept.instance_url, kept.org_username) == (
        staff_org, "Acme", "Developer Edition", FullOrgType.DEVELOPER,
        "https://acme.example", "admin@acme.example")


def test_running_job_or_preflight_within_a_day_keeps_the_token(plan, now):
    with_job = user_with_token(now, token_age=TOKEN_LIFETIME)
    job(plan, user=with_job, created_at=now - timedelta(days=1) + SECOND)
    with_preflight = user_with_token(now, token_age=TOKEN_LIFETIME)
    # (waiting in the queue, so rule 1 does not end it first)
    preflight(plan, user=with_preflight, created_at=now - timedelta(days=1) + SECOND,
              job_id=taskdefs.preflight_job.defer(preflight_pk=0))
    with_stale_run = user_with_token(now, token_age=TOKEN_LIFETIME)
    job(plan, user=with_stale_run, created_at=now - timedelta(days=1))
    with_finished_run = user_with_token(now, token_age=TOKEN_LIFETIME)
    job(plan, user=with_finished_run, status=Status.COMPLETE, created_at=now)

    counts = run_cleanup_user_data(now)

    assert counts["org_tokens_expired"] == 2
    assert token_of(with_job) == "access-secret"
    assert token_of(with_preflight) == "access-secret"
    assert token_of(with_stale_run) is None
    assert token_of(with_finished_run) is None


# -- Rule 3: idle users ----------------------------------------------------------------


def test_idle_non_staff_users_are_deleted_and_their_runs_kept(plan, now):
    idle = user_with_token(now, last_login=now - USER_RETENTION)
    Token.objects.create(user=idle)
    idle_job = job(plan, user=idle, status=Status.COMPLETE)
    idle_preflight = preflight(plan, user=idle, status=Status.COMPLETE)
    recent = user_with_token(now, last_login=now - USER_RETENTION + SECOND)
    idle_staff = user_with_token(now, staff=True, last_login=now - 10 * USER_RETENTION)

    counts = run_cleanup_user_data(now)

    assert counts["users_deleted"] == 1
    assert not User.objects.filter(pk=idle.pk).exists()
    assert not OrgConnection.objects.filter(user_id=idle.pk).exists()
    assert not Token.objects.filter(user_id=idle.pk).exists()
    assert Job.objects.get(pk=idle_job.pk).user_id is None
    assert PreflightResult.objects.get(pk=idle_preflight.pk).user_id is None
    assert User.objects.filter(pk__in=[recent.pk, idle_staff.pk]).count() == 2


def test_user_who_never_signed_in_is_measured_from_joining(now):
    """A user who never signed in (last_login NULL) is not kept forever."""
    old = User.objects.create(username="never-old", date_joined=now - USER_RETENTION)
    new = User.objects.create(username="never-new", date_joined=now - USER_RETENTION + SECOND)
    run_cleanup_user_data(now)
    assert not User.objects.filter(pk=old.pk).exists()
    assert User.objects.filter(pk=new.pk).exists()


def test_user_deletion_covers_every_table_that_references_users():
    """The set-based delete is generated from the models' on_delete rules (none missed)."""
    sql = users.user_dependants_sql()
    for table in ("accounts_orgconnection", "authtoken_token", "django_admin_log"):
        assert f"DELETE FROM {table} " in sql
    for table in ("runs_job", "runs_preflightresult"):
        assert f"UPDATE {table} SET user_id = NULL" in sql
    # A Salesforce sign-in's allauth rows, and the rows that hang off them.
    for table in ("socialaccount_socialaccount", "account_emailaddress",
                  "socialaccount_socialtoken", "account_emailconfirmation"):
        assert f"DELETE FROM {table} " in sql


def test_an_idle_user_who_signed_in_with_salesforce_is_deleted_whole(now):
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount, SocialToken

    user = User.objects.create(username="sf-idle", last_login=now - USER_RETENTION)
    account = SocialAccount.objects.create(user=user, provider="salesforce", uid="005x")
    SocialToken.objects.create(account=account, token="t", token_secret="s")
    EmailAddress.objects.create(user=user, email="sf@example.com")
    run_cleanup_user_data(now)
    assert not User.objects.filter(pk=user.pk).exists()
    assert not SocialAccount.objects.exists() and not SocialToken.objects.exists()
    assert not EmailAddress.objects.filter(email="sf@example.com").exists()


# -- Rule 4: old exceptions (and logs) -------------------------------------------------


@pytest.mark.parametrize("make", [job, preflight])
def test_exception_and_log_of_old_runs_are_cleared_results_kept(plan, now, make):
    old = make(plan, status=Status.FAILED, exception="Field Acme__c missing", log="scrubbed",
               results={"1": [{"status": "error"}]}, created_at=now - EXCEPTION_RETENTION)
    log_only = make(plan, status=Status.COMPLETE, log="scrubbed",
                    created_at=now - EXCEPTION_RETENTION)
    young = make(plan, status=Status.FAILED, exception="Field Acme__c missing", log="scrubbed",
                 created_at=now - EXCEPTION_RETENTION + SECOND)

    counts = run_cleanup_user_data(now)

    label = "job" if make is job else "preflight"
    assert counts[f"{label}_exceptions_cleared"] == 1
    assert counts[f"{label}_logs_cleared"] == 1
    old.refresh_from_db()
    assert (old.exception, old.log, old.results) == (None, "", {"1": [{"status": "error"}]})
    assert type(old).objects.get(pk=log_only.pk).log == ""
    young.refresh_from_db()
    assert (young.exception, young.log) == ("Field Acme__c missing", "scrubbed")


# -- Rule 5: API tokens ----------------------------------------------------------------


def test_api_tokens_expire_after_their_lifetime(now):
    old = Token.objects.create(user=User.objects.create(username="api-old", is_staff=True))
    young = Token.objects.create(user=User.objects.create(username="api-new", is_staff=True))
    Token.objects.filter(pk=old.pk).update(created=now - API_TOKEN_LIFETIME)
    Token.objects.filter(pk=young.pk).update(created=now - API_TOKEN_LIFETIME + SECOND)

    counts = run_cleanup_user_data(now)

    assert counts["api_tokens_deleted"] == 1
    assert list(Token.objects.values_list("pk", flat=True)) == [young.pk]


# -- Batching and the run lock ---------------------------------------------------------


def test_a_backlog_larger_than_a_batch_is_cleared_in_one_run(now):
    users = [user_with_token(now, token_age=TOKEN_LIFETIME) for _ in range(5)]
    counts = run_cleanup_user_data(now, batch_size=2)
    assert counts["org_tokens_expired"] == 5
    assert not OrgConnection.objects.filter(
        user__in=users, access_token__isnull=False).exists()


def test_a_run_does_nothing_while_another_holds_the_lock(now):
    import psycopg

    from plandeploy.testing.processes import test_database_url

    due = user_with_token(now, token_age=TOKEN_LIFETIME)
    with psycopg.connect(test_database_url(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))",
                      ["plandeploy.maintenance.cleanup_user_data"])
        assert run_cleanup_user_data(now) is None
    assert token_of(due) == "access-secret"
    assert run_cleanup_user_data(now)["org_tokens_expired"] == 1
