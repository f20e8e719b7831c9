"""Catalogue representations of the public API, built once per catalogue version, language
and visibility class (plandeploy/catalog/cache.py says why that is never stale), kept as
the JSON bytes they are sent as."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from django.http import HttpResponse
from django.utils.translation import get_language
from rest_framework.renderers import JSONRenderer

from plandeploy.catalog import cache

_renderer = JSONRenderer()


def catalogue_response(request, key: Hashable, build: Callable[[], object]) -> HttpResponse:
    """The JSON response of `build()` (its data, or None for a 404), from the cache when
    this catalogue version, language and visibility class already built it."""
    # First the version, then the user's class, then (on a miss) the catalogue itself.
    version = cache.current_version()
    klass = cache.visibility_class(version, request.user)

    def render() -> bytes | None:
        data = build()
        return None if data is None else _renderer.render(data)

    body = cache.CACHE.get(version, (key, get_language(), klass), render)
    if body is None:
        return HttpResponse(b'{"detail":"Not found."}', status=404,
                            content_type="application/json")
    return HttpResponse(body, content_type="application/json")
