"""A user with their org connection, read in hand-written SQL: the one read every signed-in
request makes (by session or by API token).

Why: the ORM compiled a select_related query for it on every request, which cost more than
running the query (plandeploy/sqlrows.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from django.db import connection

from plandeploy.accounts.models import OrgConnection, User
from plandeploy.sqlrows import Columns, instances, quote


@cache
def user_and_org_columns() -> tuple[Columns, Columns]:
    """The columns of users (alias `u`) and of org connections (alias `o`)."""
    return Columns(User, "u"), Columns(OrgConnection, "o")


def user_and_org_sql(more_columns: str = "") -> str:
    """`u.*, o.*` (then `more_columns`) FROM the users, their org joined: a query adds its
    own joins and WHERE."""
    user, org = user_and_org_columns()
    more = f", {more_columns}" if more_columns else ""
    return (f"SELECT {user.sql}, {org.sql}{more} FROM {quote(User._meta.db_table)} u"
            f" LEFT JOIN {quote(OrgConnection._meta.db_table)} o ON o.user_id = u.id")


def user_from_row(row: Sequence, start: int = 0) -> User:
    """The user at `row[start:]`, holding their org (or the lack of one) as select_related
    would."""
    user, org = instances(row[start:], *user_and_org_columns())
    user.keep_loaded_org_connection(org)
    return user


@cache
def _by_pk_sql() -> str:
    return f"{user_and_org_sql()} WHERE u.id = %s"


def user_with_org(pk: int) -> User | None:
    """The user `pk` with their org connection, or None."""
    with connection.cursor() as cursor:
        cursor.execute(_by_pk_sql(), [pk])
        row = cursor.fetchone()
    return None if row is None else user_from_row(row)
