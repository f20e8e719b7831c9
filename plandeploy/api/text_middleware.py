"""Refuse, with a 400, any request carrying text PostgreSQL cannot store.

A PostgreSQL text value cannot hold NUL, and UTF-8 cannot carry a UTF-16 surrogate without
its pair. Such text reaches a query from many places: the path (`/api/plans/%00/`), the
query string, a cookie (the session key is looked up), a header, a form field (the sign-in
user name) or a JSON string (`"\\u0000"`, `"\\ud800"`). Without this gate each place fails
in its own way, some with a 500 after a partial write. This middleware looks at all of them
before sessions, CSRF or any view run, and answers a 400 naming where the text was: JSON on
the APIs, a short page elsewhere. A JSON body is looked at when the API's parser would read
it: DRF parses nothing without a declared length, and the parser answers 413 above the size
limit, before reading.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation

from plandeploy.api.errors import wants_json

# Surrogate pairs decode to one astral character, so any surrogate left is unpaired.
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_DETAIL = "Text must not contain NUL characters or unpaired surrogates."
# In a JSON body such text can only be spelt as an escape (raw NUL is invalid JSON and raw
# surrogates are invalid UTF-8): bodies without one are not parsed here at all.
_JSON_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def unstorable_text_path(value: Any) -> list[str | int] | None:
    """The path of the first key or string PostgreSQL cannot store, or None."""
    stack: list[tuple[list[str | int], Any]] = [([], value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if UNSTORABLE_TEXT.search(item):
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                if UNSTORABLE_TEXT.search(key):
                    return [*path, key]
                stack.append(([*path, key], child))
        elif isinstance(item, list):
            stack.extend(([*path, index], child) for index, child in enumerate(item))
    return None


def printable_path(path: list[str | int]) -> list[str | int]:
    # The path itself goes back in a JSON answer, which must be encodable too.
    return [
        part.encode("utf-8", "backslashreplace").decode() if isinstance(part, str) else part
        for part in path
    ]


def _first_in_pairs(pairs: Iterable[tuple[str, Iterable[str]]]) -> list[str | int] | None:
    for key, values in pairs:
        if UNSTORABLE_TEXT.search(key):
            return [key]
        for value in values:
            if isinstance(value, str) and UNSTORABLE_TEXT.search(value):
                return [key]
    return None


def _json_body_path(request: HttpRequest) -> list[str | int] | None:
    content_type = request.content_type or ""
    if not (content_type == "application/json" or content_type.endswith("+json")):
        return None
    meta = request.META
    try:
        # The length DRF goes by: with none it parses no body at all.
        declared = int(meta.get("CONTENT_LENGTH", meta.get("HTTP_CONTENT_LENGTH", 0)) or 0)
    except ValueError:
        return None
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if declared <= 0 or (limit is not None and declared > limit):
        return None  # nothing to check, or the parser's 413
    body = request.body
    if not _JSON_ESCAPE.search(body):
        return None
    try:
        data = json.loads(body.decode(request.encoding or "utf-8"))
    except ValueError:
        return None  # malformed: the parser's own 400
    return unstorable_text_path(data)


def find_unstorable(request: HttpRequest) -> tuple[str, list[str | int]] | None:
    """Where the request carries unstorable text ("path", "query", …), and the name there."""
    if UNSTORABLE_TEXT.search(request.path):
        return "path", []
    found = _first_in_pairs(request.GET.lists())
    if found is not None:
        return "query", found
    found = _first_in_pairs((name, [value]) for name, value in request.COOKIES.items())
    if found is not None:
        return "cookie", found
    for name, value in request.META.items():
        if name.startswith("HTTP_") and isinstance(value, str) and UNSTORABLE_TEXT.search(value):
            return "header", [name[5:].replace("_", "-").title()]
    if request.method == "POST" and request.content_type in _FORM_TYPES:
        found = _first_in_pairs(request.POST.lists())
        if found is None:
            found = _first_in_pairs(
                (name, [upload.name for upload in uploads])
                for name, uploads in request.FILES.lists()
            )
        if found is not None:
            return "form", found
    found = _json_body_path(request)
    if found is not None:
        return "body", found
    return None


def refusal(request: HttpRequest, where: str, path: list[str | int]) -> HttpResponse:
    if wants_json(request.path):
        return JsonResponse(
            {"detail": UNSTORABLE_DETAIL, "in": where, "path": printable_path(path)},
            status=400,
        )
    # Before LocaleMiddleware: the page follows the language the browser asks for.
    with translation.override(translation.get_language_from_request(request)):
        return HttpResponse(render_to_string("400.html", {"unstorable": True}), status=400)


class UnstorableTextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = find_unstorable(request)
        if found is not None:
            return refusal(request, *found)
        return self.get_response(request)
