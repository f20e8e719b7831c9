"""update_translations <lang> | --all: defer update_all_translations from the command line."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from plandeploy.translations import services
from plandeploy.translations.apply import check_language, translatable_languages


class Command(BaseCommand):
    help = "Defer update_all_translations for one language, or for every language with --all."

    def add_arguments(self, parser) -> None:
        parser.add_argument("lang", nargs="?", help="a language code from LANGUAGES")
        parser.add_argument("--all", action="store_true", help="every translatable language")

    def handle(self, *args, lang: str | None = None, all: bool = False, **options) -> None:
        if bool(lang) == all:
            raise CommandError("Give one language code, or --all.")
        if lang:
            try:
                check_language(lang)
            except ValueError as error:
                raise CommandError(
                    f"{error} (translatable: {', '.join(translatable_languages())})"
                ) from error
        with transaction.atomic():
            job_id = services.request_update(lang)
        what = lang or "every language"
        if job_id is None:
            self.stdout.write(f"update_all_translations for {what} is already waiting.")
        else:
            self.stdout.write(f"Deferred update_all_translations for {what} (job {job_id}).")
