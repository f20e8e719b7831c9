"""App configuration for plandeploy.api."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "plandeploy.api"
    verbose_name = "API"
