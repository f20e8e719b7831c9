"""Checkout of a product repository at a commit-ish into a shared, immutable per-commit cache."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from django.conf import settings

_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_URL_RE = re.compile(r"^[a-z][a-z0-9+.-]*://|^[^/]+@[^/]+:", re.IGNORECASE)
GIT_TIMEOUT = 300
logger = logging.getLogger(__name__)


class RepoError(Exception):
    """The repository or commit-ish cannot be checked out; the message says why."""


class CheckoutError(Exception):
    """A product cannot be checked out for a run; the message is shown to the user."""


class DeadlineExceeded(RepoError):
    """The caller's deadline (its job's time limit) passed before git was done."""


class CheckoutTimeout(CheckoutError):
    """The checkout did not finish before the caller's deadline."""


def _git(*args: str, cwd: str | None = None, stdout: int | None = subprocess.PIPE,
         deadline: float | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    timeout: float = GIT_TIMEOUT
    if deadline is not None:
        timeout = min(timeout, deadline - time.monotonic())
        if timeout <= 0:
            raise DeadlineExceeded(f"no time left for git {args[0]}")
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlineExceeded(f"git {args[0]} was stopped at the deadline") from exc
        raise RepoError(f"git {args[0]} timed out after {GIT_TIMEOUT} s") from exc
    if done.returncode != 0:
        raise RepoError(f"git {args[0]} failed: {done.stderr.strip() or done.returncode}")
    return done.stdout or ""


def _local_git_dir(path: Path) -> bool:
    """True if `path` is the top of a work tree or a bare repository.

    A directory merely nested inside some repository (e.g. examples/ in a checkout) is not:
    it is a plain directory, used as is.
    """
    if (path / ".git").exists():
        return True
    try:
        out = _git("rev-parse", "--is-bare-repository", "--git-dir", cwd=str(path))
    except (RepoError, OSError):
        return False
    bare, git_dir = (out.splitlines() + ["", ""])[:2]
    return bare.strip() == "true" and Path(path, git_dir.strip()).resolve() == path.resolve()


def resolve(repo_url: str, commit_ish: str, deadline: float | None = None) -> str:
    """Resolve a branch, tag or sha of a git repository (path or URL) to a full sha."""
    if not commit_ish:
        commit_ish = "HEAD"
    local = Path(repo_url).expanduser()
    if not _URL_RE.match(repo_url) and local.is_dir():
        try:
            out = _git(
                "rev-parse", "--verify", "--quiet", f"{commit_ish}^{{commit}}", cwd=str(local),
                deadline=deadline,
            )
        except DeadlineExceeded:
            raise
        except RepoError:
            out = ""
        sha = out.strip()
        if not _SHA_RE.match(sha):
            raise RepoError(f"Unknown commit-ish {commit_ish!r} in {repo_url}.")
        return sha
    if _SHA_RE.match(commit_ish.lower()):
        # A remote cannot be asked about a bare sha without fetching: trust it, fetch checks.
        return commit_ish.lower()
    try:
        # Protocol v2 lists a tag's peeled commit only when asked for it by name.
        out = _git("ls-remote", repo_url, commit_ish, f"{commit_ish}^{{}}", deadline=deadline)
    except DeadlineExceeded:
        raise
    except RepoError as exc:
        raise RepoError(f"Cannot reach repository {repo_url}: {exc}") from exc
    refs: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    for ref in (
        f"refs/tags/{commit_ish}^{{}}",  # annotated tag, peeled to its commit
        f"refs/heads/{commit_ish}",
        f"refs/tags/{commit_ish}",
        commit_ish,
    ):
        if ref in refs:
            return refs[ref]
    raise RepoError(f"Unknown commit-ish {commit_ish!r} in {repo_url}.")


def _export(repo_url: str, sha: str, ref: str, target: Path, deadline: float | None) -> None:
    local = Path(repo_url).expanduser()
    if not _URL_RE.match(repo_url) and local.is_dir():
        source = str(local)
    else:
        source = str(target.parent / "git")
        _git("init", "--quiet", "--bare", source, deadline=deadline)
        # Fetch by name where possible: not every server lets clients fetch a bare sha.
        want = ref if ref != sha else sha
        _git("fetch", "--quiet", "--depth", "1", "--no-tags", repo_url, want, cwd=source,
             deadline=deadline)
        fetched = _git("rev-parse", "FETCH_HEAD^{commit}", cwd=source, deadline=deadline).strip()
        if fetched != sha:
            # The branch moved between ls-remote and fetch; take the sha we resolved.
            _git("fetch", "--quiet", "--depth", "1", repo_url, sha, cwd=source, deadline=deadline)
    with tempfile.TemporaryFile() as archive:
        _git("archive", "--format=tar", sha, cwd=source, stdout=archive, deadline=deadline)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(target, filter="data")


def checkout(repo_url: str, commit_ish: str, cache_root: Path,
             deadline: float | None = None) -> Path:
    """Return a directory holding the product repository at `commit_ish`.

    - A plain local directory that is not the top of a git repository is returned as is
      (development mode: edits show up in the next run; `commit_ish` is ignored).
    - Otherwise (a git work tree, a bare repository, or any URL git can reach) `commit_ish`
      is resolved to a sha, and that commit is exported once to `cache_root/<sha>` (a plain
      tree, no .git). The export goes to a temporary directory renamed into place, so
      concurrent callers are safe and a directory under its sha is always complete.

    With `deadline` (a time.monotonic() instant), git is stopped then: DeadlineExceeded.
    """
    local = Path(repo_url).expanduser()
    if not _URL_RE.match(repo_url):
        if not local.exists():
            raise RepoError(f"Repository {repo_url} does not exist.")
        if local.is_dir() and not _local_git_dir(local):
            return local.resolve()
        repo_url = str(local.resolve())
    sha = resolve(repo_url, commit_ish, deadline)
    cache_root = Path(cache_root)
    final = cache_root / sha
    if final.is_dir():
        return final
    cache_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{sha[:12]}-", dir=cache_root))
    try:
        tree = work / "tree"
        tree.mkdir()
        _export(repo_url, sha, commit_ish or "HEAD", tree, deadline)
        try:
            tree.rename(final)
        except OSError:
            # Another caller exported the same commit first; theirs is as good as ours.
            if not final.is_dir():
                raise
    except DeadlineExceeded:
        raise
    except RepoError as exc:
        raise RepoError(f"Cannot check out {commit_ish!r} from {repo_url}: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def _tree_bytes(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                pass
    return total


def prune_cache(cache_root: Path, *, max_age_seconds: float, max_bytes: int,
                in_use_seconds: float) -> dict[str, int]:
    """Remove checkouts unused for `max_age_seconds`, then the least recently used ones while
    the cache holds more than `max_bytes`; returns counts. A checkout used (its mtime is
    touched at each use) within `in_use_seconds` may be read by a run and is always kept, as
    is an export under way; one a crashed export left behind goes with the old checkouts.
    """
    cache_root = Path(cache_root)
    if not cache_root.is_dir():
        return {"removed": 0, "removed_bytes": 0, "kept": 0, "kept_bytes": 0}
    now = time.time()
    entries = []
    for path in cache_root.iterdir():
        if not (_SHA_RE.match(path.name) or path.name.startswith(".tmp-")):
            continue
        try:
            used = path.stat().st_mtime
        except FileNotFoundError:
            continue
        entries.append((used, path, _tree_bytes(path)))
    entries.sort()  # least recently used first
    total = sum(size for _used, _path, size in entries)
    removed = removed_bytes = 0
    for used, path, size in entries:
        age = now - used
        if age < in_use_seconds:
            continue
        if age < max_age_seconds and total <= max_bytes and not path.name.startswith(".tmp-"):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
        removed_bytes += size
        total -= size
    counts = {"removed": removed, "removed_bytes": removed_bytes,
              "kept": len(entries) - removed, "kept_bytes": total}
    if removed:
        logger.info("repository cache: removed %d checkout(s) (%d bytes), kept %d (%d bytes)",
                    removed, removed_bytes, counts["kept"], total)
    return counts


def prune_product_cache() -> dict[str, int]:
    """prune_cache on this host's REPO_CACHE_ROOT with the REPO_CACHE_* settings."""
    return prune_cache(
        Path(settings.REPO_CACHE_ROOT),
        max_age_seconds=settings.REPO_CACHE_MAX_AGE_DAYS * 86400,
        max_bytes=settings.REPO_CACHE_MAX_MB * 1024 * 1024,
        # The longest a run may read its checkout, and some margin.
        in_use_seconds=settings.JOB_TIMEOUT + 600,
    )


# (repository, commit-ish) -> its checkout, for the checkouts that cannot change.
_checkouts: dict[tuple[str, str], Path] = {}


def checkout_product(repo_url: str, commit_ish: str, deadline: float | None = None) -> Path:
    """The product's repository at `commit_ish`, in this installation's checkout cache.

    Raises CheckoutError (CheckoutTimeout when `deadline`, a time.monotonic() instant,
    passes first). A relative path names a directory of this installation.
    """
    if not repo_url:
        raise CheckoutError("The product has no repository.")
    cache_root = Path(settings.REPO_CACHE_ROOT)
    path = Path(repo_url).expanduser()
    if "://" not in repo_url and "@" not in repo_url and not path.is_absolute():
        # The sample product ships as a directory next to the package.
        repo_url = str(settings.BASE_DIR.parent / path)
    key = (repo_url, commit_ish or "")
    cached = _checkouts.get(key)
    if cached is not None and cached.is_dir():
        _mark_used(cached, cache_root)
        return cached
    exported_before = _exported(cache_root)
    try:
        path = checkout(repo_url, commit_ish or "", cache_root, deadline)
    except DeadlineExceeded as exc:
        raise CheckoutTimeout(f"The checkout of {repo_url} did not finish in time.") from exc
    except RepoError as exc:
        raise CheckoutError(str(exc)) from exc
    _mark_used(path, cache_root)
    if _exported(cache_root) > exported_before:
        # The cache only grows by an export: the time to keep it within its bounds. Each
        # host has a cache of its own, so a scheduled job (run by one worker) could not.
        prune_product_cache()
    # A plain directory (read live) and a full sha (immutable) always resolve to the same
    # path; a branch or tag may move, so it is resolved again each run.
    if not path.is_relative_to(cache_root) or _SHA_RE.match(key[1]):
        _checkouts[key] = path
    return path


def _exported(cache_root: Path) -> int:
    try:
        return sum(1 for path in cache_root.iterdir() if _SHA_RE.match(path.name))
    except FileNotFoundError:
        return 0


def _mark_used(path: Path, cache_root: Path) -> None:
    """Record a use of a checkout (its mtime) so that pruning keeps what runs still read."""
    if path.parent == cache_root:
        try:
            os.utime(path)
        except FileNotFoundError:
            pass


def commit_of(repo_dir: Path) -> str | None:
    """The sha a checkout is at: checkouts of a git repository live under their sha."""
    repo_dir = Path(repo_dir)
    cache = Path(settings.REPO_CACHE_ROOT).resolve()
    if repo_dir.resolve().parent == cache and _SHA_RE.match(repo_dir.name):
        return repo_dir.name
    return None  # a plain directory (development mode) has no commit
