"""App configuration for plandeploy.translations."""

from django.apps import AppConfig


class TranslationsConfig(AppConfig):
    name = "plandeploy.translations"
    verbose_name = "Translations"

    def ready(self) -> None:
        from plandeploy.translations import receivers  # noqa: F401
