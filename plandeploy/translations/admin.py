"""Django admin for the Translation catalogue, with an action that applies it."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction

from plandeploy.translations import services
from plandeploy.translations.apply import translatable_languages
from plandeploy.translations.models import Translation


@admin.register(Translation)
class TranslationAdmin(admin.ModelAdmin):
    list_display = ("lang", "context", "slug", "text")
    list_filter = ("lang",)
    search_fields = ("context", "slug", "text")
    ordering = ("lang", "context", "slug")
    actions = ["apply_to_catalogue"]

    @admin.action(description="Apply the selected entries' languages to the catalogue objects")
    def apply_to_catalogue(self, request, queryset) -> None:
        supported = set(translatable_languages())
        langs = sorted(set(queryset.values_list("lang", flat=True)))
        deferred = []
        with transaction.atomic():
            for lang in langs:
                if lang in supported:
                    services.request_update(lang)
                    deferred.append(lang)
        if deferred:
            self.message_user(
                request, f"Deferred update_all_translations for {', '.join(deferred)}."
            )
        skipped = [lang for lang in langs if lang not in supported]
        if skipped:
            self.message_user(
                request,
                f"Not a translatable language, skipped: {', '.join(skipped)}.",
                level=messages.WARNING,
            )
