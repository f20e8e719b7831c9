"""Benchmark of FlowRunner: child start cost and sample-flow round trips, with parent RSS."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from plandeploy.bootstrap import SAMPLE_PRODUCT
from plandeploy.flowrunner import FlowRunner, OrgInput, RunSpec, StepInput

SAMPLE = SAMPLE_PRODUCT


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_mb(pid: int, file: str, field: str) -> float:
    for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"{name:<28} median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   n={len(ms)}"


def spec(steps: int, tmp: Path, n: int) -> RunSpec:
    all_steps = [
        StepInput(
            "s1", "1", "Install", "tasks.components.InstallComponent", {"options": {"name": "core"}}
        ),
        StepInput(
            "s2",
            "2",
            "Settings",
            "tasks.settings.ConfigureSettings",
            {"options": {"settings": {"theme": "dark"}}},
        ),
    ]
    return RunSpec(
        kind="flow",
        repo_dir=str(SAMPLE),
        steps=all_steps[:steps],
        org=OrgInput("local", "00D000000000001AAA", workspace=str(tmp / f"ws{n}")),
        home_dir=str(tmp / "home"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    rss_before = rss_mb()
    runner = FlowRunner()
    t0 = time.perf_counter()
    runner.start()
    print(f"forkserver start + preload check: {(time.perf_counter() - t0) * 1000:.0f} ms")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        runner.ping()  # first fork touches cold pages
        print(summary("child start (ping)", [runner.ping() for _ in range(args.runs)]))
        for steps in (1, 2):
            times = []
            for n in range(args.runs):
                t = time.perf_counter()
                result = runner.run(spec(steps, tmp, n), on_event=lambda e: None)
                times.append(time.perf_counter() - t)
                assert result.outcome == "complete", result
            print(summary(f"{steps}-step flow round trip", times))
    print(f"parent RSS: {rss_mb():.1f} MB (before FlowRunner: {rss_before:.1f} MB)")
    # The memory a project process (it forks the project's runs) costs; PSS shares what it
    # still has in common with the forkserver.
    for project in runner._projects.values():
        pid = project.process.pid
        print(
            f"project process: RSS {proc_mb(pid, 'status', 'VmRSS:'):.0f} MB, "
            f"PSS {proc_mb(pid, 'smaps_rollup', 'Pss:'):.0f} MB"
        )
    runner.stop()


if __name__ == "__main__":
    main()
