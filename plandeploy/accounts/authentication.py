"""API token authentication (`Authorization: token <key>`) that refuses expired tokens."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication


class ExpiringTokenAuthentication(TokenAuthentication):
    """A token older than API_TOKEN_EXPIRE_AFTER_DAYS is refused even before cleanup deletes it."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        max_age = timedelta(days=settings.API_TOKEN_EXPIRE_AFTER_DAYS)
        if token.created <= timezone.now() - max_age:
            raise exceptions.AuthenticationFailed("Token has expired.")
        return user, token
