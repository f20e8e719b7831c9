"""The repository cache is pruned by age and size, never removing a checkout a run may read."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from plandeploy import repos
from plandeploy.tests.test_repos import git, repo  # noqa: F401  (the fixture)

DAY = 86400


def entry(root: Path, name: str, *, age_days: float, size: int = 1000) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "file").write_bytes(b"x" * size)
    at = time.time() - age_days * DAY
    os.utime(path, (at, at))
    return path


def sha(n: int) -> str:
    return f"{n:040x}"


def test_checkouts_unused_longer_than_the_age_limit_go(tmp_path):
    old = entry(tmp_path, sha(1), age_days=20)
    recent = entry(tmp_path, sha(2), age_days=2)
    counts = repos.prune_cache(tmp_path, max_age_seconds=14 * DAY, max_bytes=10**9,
                               in_use_seconds=3600)
    assert not old.exists() and recent.is_dir()
    assert counts == {"removed": 1, "removed_bytes": 1000, "kept": 1, "kept_bytes": 1000}


def test_over_the_size_limit_the_least_recently_used_go_first_but_never_one_in_use(tmp_path):
    oldest = entry(tmp_path, sha(1), age_days=5)
    older = entry(tmp_path, sha(2), age_days=3)
    newer = entry(tmp_path, sha(3), age_days=1)
    in_use = entry(tmp_path, sha(4), age_days=0, size=5000)
    counts = repos.prune_cache(tmp_path, max_age_seconds=14 * DAY, max_bytes=6000,
                               in_use_seconds=3600)
    assert not oldest.exists() and not older.exists()
    assert newer.is_dir() and in_use.is_dir()
    assert counts["removed"] == 2 and counts["kept_bytes"] == 6000
    # Over the limit with only checkouts in use: they stay.
    repos.prune_cache(tmp_path, max_age_seconds=14 * DAY, max_bytes=0, in_use_seconds=3 * DAY)
    assert newer.is_dir() and in_use.is_dir()


def test_a_crashed_exports_leftover_goes_once_it_cannot_be_under_way(tmp_path):
    crashed = entry(tmp_path, ".tmp-abc-1", age_days=1)
    running = entry(tmp_path, ".tmp-def-2", age_days=0)
    other = entry(tmp_path, "not-a-checkout", age_days=100)
    repos.prune_cache(tmp_path, max_age_seconds=14 * DAY, max_bytes=10**9, in_use_seconds=3600)
    assert not crashed.exists() and running.is_dir() and other.is_dir()


@pytest.mark.django_db
def test_a_new_export_prunes_the_cache_and_logs_the_counts(repo, tmp_path, settings,  # noqa: F811
                                                           caplog):
    settings.REPO_CACHE_ROOT = tmp_path / "cache"
    settings.REPO_CACHE_MAX_AGE_DAYS = 14
    settings.REPO_CACHE_MAX_MB = 1024
    first = repos.checkout_product(str(repo["bare"]), repo["first"])
    assert first.name == repo["first"]
    at = time.time() - 30 * DAY
    os.utime(first, (at, at))
    # Using a cached checkout marks it used: it is kept.
    assert repos.checkout_product(str(repo["bare"]), repo["first"]) == first
    assert first.stat().st_mtime > time.time() - 60
    os.utime(first, (at, at))
    with caplog.at_level(logging.INFO, logger="plandeploy.repos"):
        second = repos.checkout_product(str(repo["bare"]), repo["second"])
    assert second.is_dir() and not first.exists()
    assert any("repository cache: removed 1 checkout(s)" in r.getMessage()
               for r in caplog.records)
