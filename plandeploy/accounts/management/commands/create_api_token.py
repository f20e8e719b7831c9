"""`create_api_token <username>`: print a new API token and nothing else on stdout."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from plandeploy.accounts.tokens import issue_token


class Command(BaseCommand):
    help = "Create a new API token for a user (replacing any old one) and print it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")

    def handle(self, *args, username: str, **options) -> None:
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        # Shown this once: only its digest is stored.
        self.stdout.write(issue_token(user))
