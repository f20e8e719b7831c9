"""A throwaway worker for test_parent_death: runs a long step and prints pids as it goes."""

import re
import sys
import tempfile
import time

from plandeploy.flowrunner import FlowRunner, OrgInput, RunSpec, StepInput, StepLog


def main() -> None:
    workdir, repo_dir, marker = sys.argv[1], sys.argv[2], sys.argv[3]
    runner = FlowRunner()
    runner.start()
    print(f"FORKSERVER={runner.forkserver_pid}", flush=True)
    spec = RunSpec(
        kind="flow",
        repo_dir=repo_dir,
        steps=[
            StepInput(
                "s1",
                "1",
                "Sleep",
                "cumulusci.tasks.command.Command",
                {"options": {"command": f"echo RUNPID=$PPID; sleep {marker}"}},
            )
        ],
        org=OrgInput("local", "00D000000000001AAA", workspace=f"{workdir}/ws"),
        home_dir=tempfile.mkdtemp(dir=workdir),
        log_flush_seconds=0.05,
    )

    def on_event(event: object) -> None:
        if isinstance(event, StepLog) and (found := re.search(r"RUNPID=(\d+)", event.text)):
            print(f"RUNPID={found.group(1)}", flush=True)

    runner.run(spec, on_event=on_event, timeout=120)
    time.sleep(120)


if __name__ == "__main__":
    main()
