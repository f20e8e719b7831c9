"""Imports every job module so that procrastinate knows each job by its seed name."""

from plandeploy.jobs import diagnostics, enqueuer, flows, maintenance, translations  # noqa: F401
