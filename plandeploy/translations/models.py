"""The Translation catalogue: text per (context, slug, language)."""

from __future__ import annotations

from django.db import models


class Translation(models.Model):
    context = models.TextField()
    slug = models.TextField()
    lang = models.CharField(max_length=16)
    text = models.TextField()
    description = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["context", "slug", "lang"], name="translation_unique")
        ]
        indexes = [models.Index(fields=["lang", "context"], name="translation_lang_context")]

    def __str__(self) -> str:
        return f"{self.lang}:{self.context}:{self.slug}"
