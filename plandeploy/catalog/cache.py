"""A per-process cache of what is built from the catalogue, never stale after a change commits.

Why: the catalogue changes a few times a day, but building a product list or a plan's
representation (a dozen queries, translations, Markdown) cost more than everything else a
request does. Each web process builds each representation once per catalogue version,
language and visibility class, and serves it from memory afterwards.

Why it is never stale, in every process and on every host: every transaction that writes a
catalogue table changes the one CatalogueVersion row (database triggers, so no code path can
forget), and every request reads that row (one primary-key query; for an API token, within
the token's own query) *before* it reads anything else from the cache. A request that reads
the new version misses the cache and builds from data at least as new; a request that read
the old version just before the commit may be served the old representation, which was
current when it asked. Entries of older versions are dropped as
soon as a newer version is seen.

Visibility: products and plans with an allowed list look different to those it allows. The
visibility class of a user is the set of allowed lists that allow them (empty for anonymous
visitors), so users in the same class share entries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.core.signals import setting_changed
from django.db import connection
from django.db.models import Q
from django.dispatch import receiver

from plandeploy.catalog.models import AllowedList, AllowedListOrg

T = TypeVar("T")

# Entries of one version: a bound on memory (a product list page is ~20 kB) that a crawler
# walking every product in every language may reach; the cache then starts over.
MAX_ENTRIES = 2000
EVERYTHING = "all"  # superusers pass every allowed list


# The version as a scalar subquery, for a query that reads it with something else.
VERSION_SQL = "SELECT version FROM catalog_catalogueversion WHERE id = 1"


def current_version() -> int | None:
    """The catalogue version as of now; None when there is none (the cache is then bypassed)."""
    with connection.cursor() as cursor:
        cursor.execute(VERSION_SQL)
        row = cursor.fetchone()
    return row[0] if row else None


_UNREAD = object()


def request_version(request) -> int | None:
    """The catalogue version `request` reads the cache at: read once, before anything else
    the request reads from the cache, and kept on the request, so that every part of one
    response (a page and its frame, a run's checks and its response) shows one catalogue."""
    version = getattr(request, "catalogue_version", _UNREAD)
    if version is _UNREAD:
        version = request.catalogue_version = current_version()
    return version


def keep_request_version(request, version: int | None) -> None:
    """`version`, read by the request's first query (its API token's), is the one it reads
    the cache at; set before anything else the request reads from the cache."""
    request.catalogue_version = version


class CatalogueCache:
    """Values keyed by (version, key); only the newest version seen is kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._entries: dict[Hashable, Any] = {}

    def get(self, version: int | None, key: Hashable, build: Callable[[], T]) -> T:
        if version is None:
            return build()
        full_key = (version, key)
        try:
            return self._entries[full_key]
        except KeyError:
            pass
        value = build()
        with self._lock:
            if self._version != version:
                # Another version drops everything else. (A request that read the version
                # just before a commit may switch back to the old one briefly: that costs
                # rebuilds, never staleness, as entries are keyed by their version.)
                self._version = version
                self._entries = {}
            if len(self._entries) >= MAX_ENTRIES:
                self._entries = {}
            self._entries[full_key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._version = None
            self._entries = {}


CACHE = CatalogueCache()


@receiver(setting_changed)
def _settings_changed(**_kwargs) -> None:
    # Settings shape representations too (languages, durations); they change only in tests.
    CACHE.clear()


def _allowed_lists(version: int | None) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """Every allowed list's id and org types, cached with the catalogue version."""
    return CACHE.get(version, "allowed-lists", lambda: tuple(
        (pk, tuple(org_types))
        for pk, org_types in AllowedList.objects.order_by("pk").values_list("pk", "org_type")
    ))


def visibility_class(version: int | None, user) -> Hashable:
    """The allowed lists that allow `user`: the part of a user that representations show.

    Mirrors AllowedList.allows: nobody anonymous, every list for superusers, else the lists of
    the user's org type and those naming the user's org.
    """
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    lists = _allowed_lists(version)
    if not lists:
        return frozenset()
    if user.is_superuser:
        return EVERYTHING
    org_type = user.full_org_type
    by_type = {pk for pk, org_types in lists if org_type and org_type in org_types}
    org_id = user.org_id
    if not org_id:
        return frozenset(by_type)
    by_org = AllowedListOrg.objects.filter(
        Q(org_id=org_id) & ~Q(allowed_list_id__in=by_type)
    ).values_list("allowed_list_id", flat=True)
    return frozenset(by_type | set(by_org))
