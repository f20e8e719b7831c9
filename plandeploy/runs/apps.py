"""App configuration for plandeploy.runs."""

from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "plandeploy.runs"
    verbose_name = "Runs"
