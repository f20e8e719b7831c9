"""Tests for plandeploy.repos.checkout with temporary git repositories."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from plandeploy.repos import RepoError, checkout


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "product"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "cumulusci.yml").write_text("project:\n    name: v1\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "v1")
    first = git(path, "rev-parse", "HEAD")
    git(path, "tag", "-a", "v1.0", "-m", "release 1.0")
    (path / "cumulusci.yml").write_text("project:\n    name: v2\n")
    git(path, "commit", "-q", "-am", "v2")
    second = git(path, "rev-parse", "HEAD")
    git(path, "branch", "feature", first)
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(path), str(bare))
    return {"path": path, "bare": bare, "first": first, "second": second}


def name_at(tree: Path) -> str:
    return (tree / "cumulusci.yml").read_text().split("name:")[1].strip()


@pytest.mark.parametrize("source", ["path", "bare", "file_url"])
def test_branches_tags_and_shas(repo, tmp_path: Path, source: str) -> None:
    url = str(repo["bare"]) if source != "path" else str(repo["path"])
    if source == "file_url":
        url = Path(url).as_uri()
    cache = tmp_path / "cache"
    main = checkout(url, "main", cache)
    assert main == cache / str(repo["second"]) and name_at(main) == "v2"
    assert not (main / ".git").exists()
    tag = checkout(url, "v1.0", cache)
    assert tag.name == repo["first"] and name_at(tag) == "v1"
    assert checkout(url, "feature", cache) == tag
    assert checkout(url, str(repo["first"]), cache) == tag


def test_export_is_reused(repo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    tree = checkout(str(repo["path"]), "main", cache)
    (tree / "marker").write_text("kept")
    assert checkout(str(repo["path"]), str(repo["second"]), cache) == tree
    assert (tree / "marker").read_text() == "kept"
    assert sorted(p.name for p in cache.iterdir()) == [str(repo["second"])]


def test_concurrent_checkouts_agree(repo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    url = Path(str(repo["bare"])).as_uri()
    results: list[Path] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(checkout(url, "main", cache))
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1 and name_at(results[0]) == "v2"
    assert [p.name for p in cache.iterdir()] == [str(repo["second"])]


def test_plain_directory_is_used_as_is(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "cumulusci.yml").write_text("project:\n    name: plain\n")
    assert checkout(str(plain), "whatever", tmp_path / "cache") == plain.resolve()
    assert not (tmp_path / "cache").exists()


def test_directory_nested_in_a_repo_is_a_plain_directory(repo, tmp_path: Path) -> None:
    nested = Path(str(repo["path"])) / "examples"
    nested.mkdir()
    assert checkout(str(nested), "main", tmp_path / "cache") == nested.resolve()


@pytest.mark.parametrize("source", ["path", "bare"])
def test_unknown_commit_ish(repo, tmp_path: Path, source: str) -> None:
    with pytest.raises(RepoError, match="Unknown commit-ish 'nope'"):
        checkout(str(repo[source]), "nope", tmp_path / "cache")
    with pytest.raises(RepoError, match="Unknown commit-ish 'nope'"):
        checkout(Path(str(repo[source])).as_uri(), "nope", tmp_path / "cache")


def test_unreachable_repository(tmp_path: Path) -> None:
    with pytest.raises(RepoError, match="does not exist"):
        checkout(str(tmp_path / "missing"), "main", tmp_path / "cache")
    with pytest.raises(RepoError, match="Cannot reach repository"):
        checkout((tmp_path / "missing.git").as_uri(), "main", tmp_path / "cache")
