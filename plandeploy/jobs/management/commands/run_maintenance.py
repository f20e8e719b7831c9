"""`plandeploy manage run_maintenance NAME`: run one scheduled maintenance job now, print counts."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from plandeploy.maintenance.services import RUNS


class Command(BaseCommand):
    help = "Run one scheduled maintenance job in this process and print what it changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", choices=sorted(RUNS), help="the job's task name")

    def handle(self, *args, name: str, **options) -> None:
        counts = RUNS[name]()
        if counts is None:
            raise CommandError(f"{name} is already running elsewhere; nothing was done")
        self.stdout.write(f"{name}:")
        for label, value in counts.items():
            self.stdout.write(f"  {label}: {value}")
