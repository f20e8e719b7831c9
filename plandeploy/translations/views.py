"""PATCH /admin/rest/translations/<lang>: upsert catalogue entries and defer their application."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from plandeploy.security.permissions import IsSuperuser
from plandeploy.security.ratelimits import SharedRateThrottle
from plandeploy.translations import services
from plandeploy.translations.apply import translatable_languages
from plandeploy.translations.validation import InvalidCatalogue, parse_catalogue

_ENTRY = {
    "type": "object",
    "properties": {"message": {"type": "string"}, "description": {"type": "string"}},
    "required": ["message"],
    "additionalProperties": False,
}
_CATALOGUE = {
    "type": "object",
    "description": "context → slug → entry",
    "additionalProperties": {"type": "object", "additionalProperties": _ENTRY},
}
_ACCEPTED = inline_serializer(
    "TranslationsAccepted",
    {
        "lang": serializers.CharField(),
        "entries": serializers.IntegerField(),
        "written": serializers.IntegerField(),
        "job_id": serializers.IntegerField(allow_null=True),
    },
)


class TranslationCatalogueView(APIView):
    """Superusers only (API token or session); throttled by the `admin_api` rate.

    Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE get a 413 from the shared JSON parser.
    """

    permission_classes = [IsSuperuser]
    throttle_classes = [SharedRateThrottle]
    throttle_scope = "admin_api"

    @extend_schema(
        request={"application/json": _CATALOGUE},
        responses={
            200: _ACCEPTED,
            400: OpenApiResponse(description="Malformed body (with its path) or default language"),
            404: OpenApiResponse(description="Unsupported language"),
            413: OpenApiResponse(description="Body larger than MAX_REQUEST_BYTES"),
        },
    )
    def patch(self, request: Request, lang: str) -> Response:
        if lang == settings.LANGUAGE_CODE:
            return Response(
                {"detail": f"{lang} is the default language: its text is edited on the objects."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if lang not in translatable_languages():
            raise NotFound(f"Unsupported language: {lang}")
        try:
            entries = parse_catalogue(request.data)
        except InvalidCatalogue as invalid:
            return Response(
                {"detail": str(invalid), "path": invalid.errors[0]["path"],
                 "errors": invalid.errors},
                status=status.HTTP_400_BAD_REQUEST,
            )
        written, job_id = services.save_catalogue(lang, entries)
        return Response({"lang": lang, "entries": len(entries), "written": written,
                         "job_id": job_id})
