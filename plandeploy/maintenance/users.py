"""Org tokens that expire and idle users who are deleted (cleanup_user_data's user rules)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models

from plandeploy import hashids
from plandeploy.accounts.models import OrgConnection, OrgType
from plandeploy.maintenance.batches import BATCH_SIZE
from plandeploy.runs.models import Job, PreflightResult
from plandeploy.runs.notify import notify_many

# Deleting a user touches about USER_WEIGHT rows (org connection, API token, runs set to
# NULL) plus a foreign-key check per referencing table at commit.
USER_WEIGHT = 10
# A token is kept while its user has a run `started` within this window.
RUNNING_WINDOW = timedelta(days=1)


def expire_org_tokens(now: datetime, limit: int = BATCH_SIZE) -> list[int]:
    """Delete due org tokens (and, for non-staff Salesforce orgs, the org details) unless a
    run is going.

    A non-staff user's Salesforce connection is the token plus the org details that came
    with it from Salesforce, so it is deleted whole (a DELETE leaves the table's indexes
    alone, where an UPDATE writes a new entry into each of them: most of a large backlog's
    cost). A local org is ours, not the customer's: its row is the org's identity and
    workspace, so it loses only the tokens, and reconnecting gets the same org back (a new
    row would have left the old workspace behind and its preflights on another org). Staff
    rows, too, keep the org details and lose the tokens.
    Returns the users whose token was deleted; each gets USER_TOKEN_INVALID.
    """
    table = OrgConnection._meta.db_table
    cutoff = now - timedelta(minutes=settings.TOKEN_LIFETIME_MINUTES)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT c.id,
                   c.org_type = %(local)s OR (SELECT u.is_staff
                                                FROM {get_user_model()._meta.db_table} AS u
                                               WHERE u.id = c.user_id)
              FROM {table} AS c
             WHERE c.token_created_at <= %(cutoff)s
               -- Few users have a run going: NOT IN makes that set one hash probed per
               -- token (a correlated NOT EXISTS was planned as a nested loop).
               AND c.user_id NOT IN (
                   SELECT j.user_id FROM {Job._meta.db_table} AS j
                    WHERE j.status = 'started' AND j.created_at > %(running_since)s
                      AND j.user_id IS NOT NULL
                   UNION ALL
                   SELECT p.user_id FROM {PreflightResult._meta.db_table} AS p
                    WHERE p.status = 'started' AND p.created_at > %(running_since)s
                      AND p.user_id IS NOT NULL)
             ORDER BY c.token_created_at
             LIMIT %(limit)s
            """,
            {"cutoff": cutoff, "running_since": now - RUNNING_WINDOW, "limit": limit,
             "local": OrgType.LOCAL},
        )
        due = cursor.fetchall()
        if not due:
            return []
        # The ids go back as literal arrays and each row is reached through the primary
        # key. Joined to the candidate query instead, the statement was planned from stale
        # statistics ("no token is due") as a loop over every due token that re-ran the
        # candidate query each time: minutes for a backlog instead of a second.
        # Each row's age is re-checked as it is when locked (a token obtained meanwhile
        # stays), written so that it cannot be an index condition: the token-age index
        # would have the planner walk the whole backlog, filtering by id.
        cursor.execute(
            f"""
            WITH deleted AS (
                DELETE FROM {table}
                 WHERE id = ANY(%(members)s)
                   AND token_created_at + interval '0 s' <= %(cutoff)s
                RETURNING user_id
            ), cleared AS (
                UPDATE {table}
                   SET access_token = NULL, refresh_token = NULL, token_created_at = NULL
                 WHERE id = ANY(%(kept)s)
                   AND token_created_at + interval '0 s' <= %(cutoff)s
                RETURNING user_id
            ), forgotten AS (
                -- What allauth kept of a Salesforce sign-in (name, e-mail) goes with the org
                -- details: the reference empties extra_data for the same users.
                UPDATE {SocialAccount._meta.db_table} SET extra_data = '{{}}'
                 WHERE user_id IN (SELECT user_id FROM deleted)
            )
            SELECT user_id FROM deleted UNION ALL SELECT user_id FROM cleared
            """,
            {
                "members": [pk for pk, keeps_org in due if not keeps_org],
                "kept": [pk for pk, keeps_org in due if keeps_org],
                "cutoff": cutoff,
            },
        )
        user_pks = [row[0] for row in cursor.fetchall()]
    notify_many("USER_TOKEN_INVALID", "user", hashids.encode_many(user_pks))
    return user_pks


def delete_idle_users(now: datetime, limit: int = BATCH_SIZE // USER_WEIGHT) -> int:
    """Delete non-staff users idle for USER_RETENTION_DAYS, with Django's on_delete rules
    applied in one statement (CASCADE, SET_NULL), without loading a model into Python.

    A user who never signed in (last_login NULL, e.g. created by an admin) is measured
    from date_joined, so that such accounts are not kept forever.
    """
    user_table = get_user_model()._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id FROM {user_table}
             WHERE id IN (
                   (SELECT id FROM {user_table}
                     WHERE NOT is_staff AND last_login <= %(cutoff)s
                     ORDER BY last_login LIMIT %(limit)s)
                   UNION ALL
                   (SELECT id FROM {user_table}
                     WHERE NOT is_staff AND last_login IS NULL AND date_joined <= %(cutoff)s
                     ORDER BY date_joined LIMIT %(limit)s))
               AND NOT is_superuser
             LIMIT %(limit)s
               FOR UPDATE SKIP LOCKED
            """,
            {"cutoff": now - timedelta(days=settings.USER_RETENTION_DAYS), "limit": limit},
        )
        # The ids as a literal array: the planner sees how few they are and uses the
        # user_id indexes of the referencing tables (a CTE made it scan them whole).
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return 0
        cursor.execute(
            f"{user_dependants_sql()} DELETE FROM {user_table} WHERE id = ANY(%(ids)s)",
            {"ids": ids},
        )
        return cursor.rowcount


@lru_cache(maxsize=1)
def user_dependants_sql() -> str:
    """One data-modifying CTE per table that references the user (and, for rows deleted with
    the user, per table that references those), from the models' on_delete.

    Django's own `delete()` would load every user and cascade in Python. Foreign keys are
    DEFERRABLE INITIALLY DEFERRED, so all parts of the one statement are checked at commit;
    every part sees the rows as they were before the statement, so a second-level part finds
    its parents through a subquery (e.g. a Salesforce sign-in's tokens through its account).
    """
    user_model = get_user_model()
    parts = _dependant_parts(user_model, "= ANY(%(ids)s)", depth=0)
    return "WITH " + ",\n".join(f"dependant_{n} AS ({part})" for n, part in enumerate(parts))


# Users → allauth's social accounts → their tokens: two levels are all our models have.
_MAX_CASCADE_DEPTH = 1


def _dependant_parts(model, selected: str, depth: int) -> list[str]:
    """The statements that apply on_delete to the rows referencing `model`'s rows whose
    primary key is `selected` (an SQL predicate's right-hand side)."""
    parts = []
    for relation in model._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete):
            continue
        if not (relation.one_to_many or relation.one_to_one):
            continue
        field = relation.field
        on_delete = field.remote_field.on_delete
        related = relation.related_model
        table = related._meta.db_table
        if field.target_field.model is not model or not field.target_field.primary_key:
            raise ImproperlyConfigured(
                f"{table}.{field.column} does not reference {model._meta.db_table}'s pk"
            )
        if on_delete is models.DO_NOTHING:
            continue
        if on_delete is models.CASCADE:
            dependants = [
                r for r in related._meta.get_fields(include_hidden=True)
                if r.auto_created and not r.concrete and (r.one_to_many or r.one_to_one)
            ]
            if dependants:
                if depth >= _MAX_CASCADE_DEPTH:
                    raise ImproperlyConfigured(
                        f"delete_idle_users cascades {_MAX_CASCADE_DEPTH + 1} levels only; "
                        f"{table} has dependants"
                    )
                parts += _dependant_parts(
                    related,
                    f"IN (SELECT {related._meta.pk.column} FROM {table} "
                    f"WHERE {field.column} {selected})",
                    depth + 1,
                )
            parts.append(f"DELETE FROM {table} WHERE {field.column} {selected}")
        elif on_delete is models.SET_NULL:
            parts.append(
                f"UPDATE {table} SET {field.column} = NULL WHERE {field.column} {selected}"
            )
        else:
            raise ImproperlyConfigured(
                f"delete_idle_users does not handle on_delete={on_delete.__name__} ({table})"
            )
    return parts
