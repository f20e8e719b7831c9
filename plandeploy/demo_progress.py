"""The demo's progress display: a bar per step of the plan it installs."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, TextColumn
from rich.progress import Progress as Bars

BAR_WIDTH = 24


class Progress:
    """A rich progress bar per step: redrawn in place on a terminal, printed once otherwise."""

    def __init__(self, steps: list[dict[str, Any]], selected: list[str]) -> None:
        self.steps = steps
        self.selected = set(selected)
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        width = max((len(step["name"]) for step in steps), default=10) + 4
        self.bars = Bars(
            TextColumn("  {task.description}"), BarColumn(bar_width=BAR_WIDTH),
            TextColumn("{task.fields[label]}"),
            # Wide enough on a pipe too, where rich would otherwise assume 80 columns.
            console=Console(width=max(80, width + BAR_WIDTH + 24)), auto_refresh=False,
        )
        self.tasks = [
            self.bars.add_task(f"{index}. {step['name']:<{width - 4}}", total=1, label="")
            for index, step in enumerate(steps, 1)
        ]
        self.bars.start()

    def show(self, job: dict[str, Any]) -> None:
        now = time.monotonic()
        results = job.get("results") or {}
        for task, step in zip(self.tasks, self.steps, strict=True):
            state = (results.get(step["id"]) or [{}])[0].get("status")
            if step["id"] in results:
                self.started.setdefault(step["id"], now)
            if state:
                self.finished.setdefault(step["id"], now)
            total, completed, label = 1, 0, "waiting" if job["status"] == "started" else "-"
            if step["id"] not in self.selected:
                label = "skipped"
            elif state:
                completed, label = 1, state
                elapsed = self.finished[step["id"]] - self.started.get(step["id"], now)
                if elapsed >= 0.1:
                    label = f"{state} ({elapsed:.1f} s)"
            elif step["id"] in self.started:
                # Steps report no percentage: an indeterminate bar pulses while one runs.
                total, label = None, "running" if job["status"] == "started" else "stopped"
            self.bars.update(task, total=total, completed=completed, label=label)
        self.bars.refresh()
