"""App configuration for plandeploy.accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "plandeploy.accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Connects the receiver that stores the org of a Salesforce sign-in.
        from plandeploy.accounts import salesforce_login  # noqa: F401
