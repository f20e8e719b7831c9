"""`create_user <username> [--staff] [--superuser] [--password-from-env VAR]`."""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create a user (with a password read from an environment variable, if given)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--staff", action="store_true")
        parser.add_argument("--superuser", action="store_true")
        parser.add_argument("--password-from-env", metavar="VAR")

    def handle(self, *args, username: str, email: str, staff: bool, superuser: bool,
               password_from_env: str | None, **options) -> None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            raise CommandError(f"User {username!r} already exists.")
        password = None
        if password_from_env:
            password = os.environ.get(password_from_env)
            if not password:
                raise CommandError(f"Environment variable {password_from_env} is not set.")
        user = User.objects.create_user(
            username=username, email=email, password=password,
            is_staff=staff or superuser, is_superuser=superuser,
        )
        if password is None:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        self.stdout.write(f"Created user {username}.")
