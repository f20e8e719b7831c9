"""Sign-in backends whose session user comes with their org in one hand-written query.

Django's backends load the session's user through the ORM on every signed-in request; the
page frame and the views then read the user's org. Both come from one row here
(accounts/user_rows.py). Sign-in itself (passwords, Salesforce) is the parent backends'.
Migration 0006 moved the sessions signed in through the parents to these, so that nobody was
signed out by the change.
"""

from __future__ import annotations

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.backends import ModelBackend

from plandeploy.accounts.user_rows import user_with_org


class _SessionUserWithOrg:
    def get_user(self, user_id):
        user = user_with_org(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class PasswordBackend(_SessionUserWithOrg, ModelBackend):
    """Username and password sign-in (the local orgs' users and the staff)."""


class SalesforceBackend(_SessionUserWithOrg, AuthenticationBackend):
    """The users of a Salesforce sign-in (through django-allauth)."""
