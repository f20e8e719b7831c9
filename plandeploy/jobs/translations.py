"""update_all_translations: apply the Translation catalogue to every translatable object.

Queue `short`, not `default`: the run is a fixed number of bulk
queries (about a second for 20,000 steps, see benchmarks/translations.py), well inside
SHORT_JOB_TIMEOUT, so it should neither wait behind hour-long installs nor count towards
MAX_QUEUE_LENGTH, which protects `default`. Runs take one lock, so they never overlap.
"""

from __future__ import annotations

import logging

from plandeploy import taskdefs
from plandeploy.translations.apply import apply_catalogue, check_language

logger = logging.getLogger(__name__)


@taskdefs.update_all_translations.implement()
def update_all_translations(lang: str | None = None) -> dict[str, int]:
    """Apply the catalogue for `lang`, or for every translatable language when None."""
    if lang is not None:
        try:
            check_language(lang)
        except ValueError as error:
            # A language removed from LANGUAGES since the job was deferred: nothing to do.
            logger.warning("update_all_translations skipped: %s", error)
            return {"created": 0, "updated": 0}
    report = apply_catalogue([lang] if lang else None)
    return {"created": report.created, "updated": report.updated}
