"""The JSON parser of every API view: its size limit.

DRF reads the raw request stream, which bypasses Django's own size check, so the
limit is applied here, before any byte is parsed. Text PostgreSQL cannot store is
refused before any view runs, for bodies and everything else, by api.text_middleware.
"""

from __future__ import annotations

from io import BytesIO

from django.conf import settings
from rest_framework import exceptions, parsers, status


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "request_too_large"


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
        return super().parse(stream, media_type, parser_context)
