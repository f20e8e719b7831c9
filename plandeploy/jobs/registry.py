"""Imports every job module so that procrastinate knows each job by its task name."""

from plandeploy.jobs import (  # noqa: F401
    diagnostics,
    enqueuer,
    flows,
    maintenance,
    scratch_orgs,
    translations,
)
