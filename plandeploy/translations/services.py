"""Write catalogue entries in bulk and request the job that applies them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import connection, transaction

from plandeploy import taskdefs
from plandeploy.translations.models import Translation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    context: str
    slug: str
    text: str
    description: str = ""


def upsert_entries(lang: str, entries: list[Entry]) -> int:
    """Insert or replace `entries` for `lang` in one statement; returns the rows written.

    An entry is replaced as a whole: a body without "description" clears it.
    """
    if not entries:
        return 0
    meta = Translation._meta
    table = connection.ops.quote_name(meta.db_table)
    sql = (
        f"INSERT INTO {table} AS t (lang, context, slug, text, description) "
        "SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) "
        "ON CONFLICT (context, slug, lang) DO UPDATE "
        "SET text = EXCLUDED.text, description = EXCLUDED.description "
        "WHERE (t.text, t.description) IS DISTINCT FROM (EXCLUDED.text, EXCLUDED.description)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                lang,
                [entry.context for entry in entries],
                [entry.slug for entry in entries],
                [entry.text for entry in entries],
                [entry.description for entry in entries],
            ],
        )
        return cursor.rowcount


def request_update(lang: str | None) -> int | None:
    """Defer update_all_translations for `lang` (None: every language) in the current transaction.

    Returns the job id, or None when a job for that language is already waiting: it has not
    read the catalogue yet, so it will apply what was just written.
    """
    kwargs = {"lang": lang} if lang else {}
    job_id = taskdefs.update_all_translations.defer_unless_queued(
        f"update_all_translations:{lang or '*'}", **kwargs
    )
    if job_id is None:
        logger.info("update_all_translations for %s is already waiting", lang or "all languages")
    return job_id


def save_catalogue(lang: str, entries: list[Entry]) -> tuple[int, int | None]:
    """Write `entries` and request their application in one transaction.

    Returns (rows written, job id or None when a waiting job will apply them).
    """
    with transaction.atomic():
        written = upsert_entries(lang, entries)
        return written, request_update(lang)
