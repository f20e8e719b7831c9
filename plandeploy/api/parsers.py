"""The JSON parser of every API view: size limit, and only text PostgreSQL can store.

DRF reads the raw request stream, which bypasses Django's own size check, so the
limit is applied here, before any byte is parsed. JSON can spell characters that a
PostgreSQL text column cannot hold (NUL, and UTF-16 surrogates without their pair);
they are refused here, once for every endpoint, so that no view reaches the database
with them and answers 500 after a partial write.
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers, status

# Surrogate pairs decode to one astral character, so any surrogate left is unpaired.
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_DETAIL = "Text must not contain NUL characters or unpaired surrogates."


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "request_too_large"


class UnstorableText(exceptions.ParseError):
    """A 400 naming where in the body the offending string is."""

    def __init__(self, path: list[str | int]):
        super().__init__({"detail": UNSTORABLE_DETAIL, "path": path})


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


def _printable_path(path: list[str | int]) -> list[str | int]:
    # The path itself goes back in a JSON answer, which must be encodable too.
    return [
        part.encode("utf-8", "backslashreplace").decode() if isinstance(part, str) else part
        for part in path
    ]


class LimitedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None:
            request = (parser_context or {}).get("request")
            declared = request.META.get("CONTENT_LENGTH") if request is not None else None
            try:
                if declared and int(declared) > limit:
                    raise RequestTooLarge()
            except ValueError:
                raise exceptions.ParseError("Invalid Content-Length.") from None
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise RequestTooLarge()
            stream = BytesIO(body)
        data = super().parse(stream, media_type, parser_context)
        path = unstorable_text_path(data)
        if path is not None:
            raise UnstorableText(_printable_path(path))
        return data
