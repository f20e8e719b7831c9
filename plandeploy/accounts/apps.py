"""App configuration for plandeploy.accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "plandeploy.accounts"
    verbose_name = "Accounts"
