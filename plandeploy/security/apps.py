"""App config of the request-protection app (it owns the shared rate-limit counters)."""

from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "plandeploy.security"
    label = "security"
    default_auto_field = "django.db.models.BigAutoField"
