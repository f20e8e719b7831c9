"""The chaos soak, short: runs and preflights survive killed workers and a PostgreSQL restart.

benchmarks/soak.py at a small size, as a subprocess with a state directory (and embedded
PostgreSQL) of its own: real web and worker processes, two worker kills, one restart of the
database. Every check it reads from the database must hold.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from plandeploy.testing.processes import REPO_ROOT

SOAK = REPO_ROOT / "benchmarks" / "soak.py"


@pytest.mark.skipif(not SOAK.exists(), reason="benchmarks/ is not part of an installed package")
def test_short_soak_loses_nothing(tmp_path):
    report = tmp_path / "report.json"
    completed = subprocess.run(
        [sys.executable, str(SOAK), "--runs", "50", "--preflights", "20", "--users", "5",
         "--kills", "2", "--kill-interval", "4", "--tick", "15", "--seed", "13",
         "--home", str(tmp_path / "home"), "--report", str(report)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    output = completed.stdout[-6000:] + completed.stderr[-3000:]
    assert report.exists(), output
    result = json.loads(report.read_text())
    failed = {name: check for name, check in result["checks"].items() if not check["ok"]}
    assert not failed, output
    assert completed.returncode == 0, output
    figures = result["figures"]
    assert figures["runs accepted"] == 50
    assert figures["preflights accepted"] == 20
    assert figures["SIGKILLs"] + figures["SIGTERMs"] == 2
    assert figures["PostgreSQL restarts"] == 1
