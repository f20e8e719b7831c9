"""Markdown to HTML for catalogue text shown by the API (raw HTML in the source is escaped)."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False})


def render(text: str | None) -> str:
    """HTML for `text`; an empty string stays empty."""
    if not text:
        return ""
    return _renderer().render(text)
