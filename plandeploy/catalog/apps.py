"""App configuration for plandeploy.catalog."""

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "plandeploy.catalog"
    verbose_name = "Catalogue"
