"""App configuration for plandeploy.adminapi."""

from django.apps import AppConfig


class AdminapiConfig(AppConfig):
    name = "plandeploy.adminapi"
    verbose_name = "Admin API"
