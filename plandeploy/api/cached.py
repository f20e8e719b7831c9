"""Catalogue representations of the public API, built once per catalogue version, language
and visibility class (plandeploy/catalog/cache.py says why that is never stale), kept as
the JSON bytes they are sent as; and the plans the writes start runs of, with everything
their checks and responses read, kept the same way."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from django.http import HttpResponse
from django.utils.translation import get_language
from rest_framework.renderers import JSONRenderer

from plandeploy.api.querysets import plan_queryset
from plandeploy.catalog import cache
from plandeploy.catalog.models import Plan, Version
from plandeploy.hashids import decode

_renderer = JSONRenderer()


def catalogue_response(request, key: Hashable, build: Callable[[], object]) -> HttpResponse:
    """The JSON response of `build()` (its data, or None for a 404), from the cache when
    this catalogue version, language and visibility class already built it."""
    # The user first: an API token's own query reads the catalogue version too (no other
    # read is needed); then the version, then the user's class, then (on a miss) the
    # catalogue itself. Reading the user before the version is safe: what decides the
    # class (allowed lists) is catalogue data, read at that version.
    user = request.user
    version = cache.request_version(request)
    klass = cache.visibility_class(version, user)

    def render() -> bytes | None:
        data = build()
        return None if data is None else _renderer.render(data)

    body = cache.CACHE.get(version, (key, get_language(), klass), render)
    if body is None:
        return HttpResponse(b'{"detail":"Not found."}', status=404,
                            content_type="application/json")
    return HttpResponse(body, content_type="application/json")


def catalogue_plan(request, public_id: object) -> Plan | None:
    """The plan of this public id (listed or not), with its steps, template, version and
    product and their translations loaded, or None.

    Shared by the requests of this process for one catalogue version and language (the
    language is part of the key: a translated model answers in the language it was loaded
    in), so they must only read it.
    """
    pk = decode(public_id) if isinstance(public_id, str) else None
    if pk is None:
        return None
    return catalogue_plan_by_pk(pk, cache.request_version(request))


def catalogue_plan_by_pk(pk: int, version: int | None) -> Plan | None:
    """catalogue_plan by primary key, for a catalogue `version` the caller read."""
    return cache.CACHE.get(version, ("plan-instance", pk, get_language()),
                           lambda: plan_queryset().filter(pk=pk).first())


def latest_listed_version_id(product_id: int, version: int | None) -> int | None:
    """The primary key of the product's most recent listed version, for a catalogue `version`
    the caller read (None: read now, uncached)."""
    return cache.CACHE.get(version, ("latest-listed-version", product_id), lambda: (
        Version.objects.filter(product_id=product_id, is_listed=True)
        .order_by("-created_at").values_list("pk", flat=True).first()
    ))
