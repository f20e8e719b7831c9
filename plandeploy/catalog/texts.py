"""A catalogue object's translated text as every reader shows it: the active language's,
else any language's, else "" (never None, never a missing-translation error)."""

from __future__ import annotations

from typing import Any


def tr(obj: Any, name: str) -> str:
    """`obj`'s translated field `name`; "" for no object or no text in any language.

    A product written in one language only is still shown, and installable, from the others.
    """
    if obj is None:
        return ""
    return obj.safe_translation_getter(name, default="", any_language=True) or ""
