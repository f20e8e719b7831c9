"""App configuration for plandeploy.translations."""

from django.apps import AppConfig


class TranslationsConfig(AppConfig):
    name = "plandeploy.translations"
    verbose_name = "Translations"
