"""API token authentication (`Authorization: token <key>`): hashed, expiring, use recorded."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from plandeploy.accounts.models import OrgConnection, User
from plandeploy.accounts.tokens import digest
from plandeploy.sqlrows import Columns, instances, quote

# A user's activity is recorded at most this often: a write per request would cost every
# token-authenticated call an UPDATE of the user row.
ACTIVITY_RESOLUTION = timedelta(minutes=1)


@cache
def _token_query() -> tuple[str, Columns, Columns, Columns]:
    """The token, its user and the user's org connection (nearly every view reads it), in
    one query written once: compiling it through the ORM cost more than running it."""
    token, user, org = Columns(Token, "t"), Columns(User, "u"), Columns(OrgConnection, "o")
    sql = (
        f"SELECT {token.sql}, {user.sql}, {org.sql} FROM {quote(Token._meta.db_table)} t"
        f" JOIN {quote(User._meta.db_table)} u ON u.id = t.user_id"
        f" LEFT JOIN {quote(OrgConnection._meta.db_table)} o ON o.user_id = u.id"
        " WHERE t.key = %s"
    )
    return sql, token, user, org


def _load_token(key_digest: str) -> Token | None:
    sql, token_columns, user_columns, org_columns = _token_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_digest])
        row = cursor.fetchone()
    if row is None:
        return None
    token, user, org = instances(row, token_columns, user_columns, org_columns)
    Token.user.field.set_cached_value(token, user)
    user.keep_loaded_org_connection(org)
    return token


class ExpiringTokenAuthentication(TokenAuthentication):
    """A token older than API_TOKEN_EXPIRE_AFTER_DAYS is refused even before cleanup deletes it.

    A request with a valid token counts as activity (`last_login`): otherwise a user who
    works only through the API would be deleted as idle USER_RETENTION_DAYS after joining.
    """

    def authenticate_credentials(self, key):
        # Only the digest is stored (accounts.tokens); the token itself is never looked up.
        token = _load_token(digest(key))
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = token.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        now = timezone.now()
        if token.created <= now - timedelta(days=settings.API_TOKEN_EXPIRE_AFTER_DAYS):
            raise exceptions.AuthenticationFailed("Token has expired.")
        if user.last_login is None or user.last_login <= now - ACTIVITY_RESOLUTION:
            type(user).objects.filter(pk=user.pk).update(last_login=now)
            user.last_login = now
        return user, token
