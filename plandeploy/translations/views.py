"""PATCH /admin/rest/translations/<lang>: upsert catalogue entries and defer their application."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from plandeploy.translations import services
from plandeploy.translations.apply import translatable_languages
from plandeploy.translations.validation import InvalidCatalogue, parse_catalogue


class TranslationCatalogueView(APIView):
    """Staff only (API token or session); throttled by the `admin_api` rate.

    Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE get a 413 from the shared JSON parser.
    """

    permission_classes = [IsAdminUser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "admin_api"

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
        with transaction.atomic():
            written = services.upsert_entries(lang, entries)
            job_id = services.request_update(lang)
        return Response({"lang": lang, "entries": len(entries), "written": written,
                         "job_id": job_id})
