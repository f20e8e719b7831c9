"""API token authentication (`Authorization: token <key>`): hashed, expiring, use recorded."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from plandeploy.accounts.tokens import digest

# A user's activity is recorded at most this often: a write per request would cost every
# token-authenticated call an UPDATE of the user row.
ACTIVITY_RESOLUTION = timedelta(minutes=1)


class ExpiringTokenAuthentication(TokenAuthentication):
    """A token older than API_TOKEN_EXPIRE_AFTER_DAYS is refused even before cleanup deletes it.

    A request with a valid token counts as activity (`last_login`): otherwise a user who
    works only through the API would be deleted as idle USER_RETENTION_DAYS after joining.
    """

    def authenticate_credentials(self, key):
        # Only the digest is stored (accounts.tokens); the token itself is never looked up.
        # The user's org connection comes in the same query: nearly every view reads it.
        model = self.get_model()
        try:
            token = model.objects.select_related("user", "user__org_connection").get(
                key=digest(key))
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
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
