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

from plandeploy.accounts.tokens import digest
from plandeploy.accounts.user_rows import user_and_org_columns, user_and_org_sql, user_from_row
from plandeploy.sqlrows import Columns, quote

# A user's activity is recorded at most this often: a write per request would cost every
# token-authenticated call an UPDATE of the user row.
ACTIVITY_RESOLUTION = timedelta(minutes=1)


@cache
def _token_query(also_select: str = "") -> tuple[str, Columns]:
    """The token, its user and the user's org connection (nearly every view reads it), in
    one query written once. `also_select`, a scalar subquery, is selected last
    (ExpiringTokenAuthentication.also_select)."""
    token = Columns(Token, "t")
    extra = f", ({also_select})" if also_select else ""
    sql = (f"{user_and_org_sql(token.sql + extra)}"
           f" JOIN {quote(Token._meta.db_table)} t ON t.user_id = u.id WHERE t.key = %s")
    return sql, token


def _load_token(key_digest: str, also_select: str = "") -> tuple[Token, object] | None:
    """The token (its user and org loaded) and the value of `also_select` (None without)."""
    sql, token_columns = _token_query(also_select)
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_digest])
        row = cursor.fetchone()
    if row is None:
        return None
    user = user_from_row(row)
    token = token_columns.instance(row, sum(map(len, user_and_org_columns())))
    Token.user.field.set_cached_value(token, user)
    return token, (row[-1] if also_select else None)


class ExpiringTokenAuthentication(TokenAuthentication):
    """A token older than API_TOKEN_EXPIRE_AFTER_DAYS is refused even before cleanup deletes it.

    A request with a valid token counts as activity (`last_login`): otherwise a user who
    works only through the API would be deleted as idle USER_RETENTION_DAYS after joining.
    """

    # A scalar subquery read in the token's own query, and where its value goes on the
    # request: a layer above that reads one value on every request (the catalogue version)
    # saves a round trip to the database on every token-authenticated call.
    also_select: str = ""

    def selected_with_token(self, request, value) -> None:
        """Receives the value of `also_select` for `request` (a token was found)."""

    def authenticate(self, request):
        # One instance per request (DRF): the request is kept for authenticate_credentials.
        self._request = request
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        # Only the digest is stored (accounts.tokens); the token itself is never looked up.
        found = _load_token(digest(key), self.also_select)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token, selected = found
        if self.also_select and getattr(self, "_request", None) is not None:
            self.selected_with_token(self._request, selected)
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
