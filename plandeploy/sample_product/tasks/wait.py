"""Sample task that sleeps, logging progress each second (for cancel and timeout demos)."""

import time

from tasks.base import WorkspaceTask


class Wait(WorkspaceTask):
    """Sleep `seconds` (float) seconds, logging once a second."""

    task_options = {
        **WorkspaceTask.task_options,
        "seconds": {"description": "How long to wait (default 1)"},
    }

    def _act(self) -> None:
        seconds = float(self.options.get("seconds") or 1)
        deadline = time.monotonic() + seconds
        waited = 0
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            waited += 1
            self.logger.info(f"Waited {min(waited, seconds):g} of {seconds:g} seconds")
        self.return_values = {"seconds": seconds}
