"""App configuration for plandeploy.jobs."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "plandeploy.jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # Registers every job with procrastinate, in web and worker processes alike.
        from plandeploy.jobs import registry  # noqa: F401
