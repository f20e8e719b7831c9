"""Validate a PATCH body of catalogue entries, naming the path of each problem."""

from __future__ import annotations

from typing import Any

from plandeploy.translations.contexts import context_kind
from plandeploy.translations.services import Entry

MAX_ERRORS = 20
ENTRY_KEYS = {"message", "description"}


class InvalidCatalogue(ValueError):
    """The body is not a valid catalogue; `errors` lists {"path": [...], "detail": "..."}."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(errors[0]["detail"])
        self.errors = errors


def parse_catalogue(body: Any) -> list[Entry]:
    """`{"<context>": {"<slug>": {"message": str, "description"?: str}}}` → entries."""
    errors: list[dict[str, Any]] = []

    def problem(path: list[str], detail: str) -> None:
        if len(errors) < MAX_ERRORS:
            errors.append({"path": path, "detail": detail})

    if not isinstance(body, dict):
        raise InvalidCatalogue([{"path": [], "detail": "Expected an object of contexts."}])
    entries: list[Entry] = []
    for context, slugs in body.items():
        kind = context_kind(context)
        if kind is None:
            problem([context], "Unknown context: expected siteprofile, <title>:product_category "
                    "or <product slug>:product|version:<label>|plan:<name>|steps.")
            continue
        if not isinstance(slugs, dict):
            problem([context], "Expected an object of slugs.")
            continue
        for slug, message in slugs.items():
            path = [context, slug]
            if not slug:
                problem(path, "A slug must not be empty.")
                continue
            if not kind.by_text and slug not in kind.fields:
                problem(path, f"Unknown field for a {kind.name} context: expected one of "
                        f"{', '.join(sorted(kind.fields))}.")
                continue
            if not isinstance(message, dict):
                problem(path, "Expected an object with a message.")
                continue
            unexpected = sorted(set(message) - ENTRY_KEYS)
            if unexpected:
                problem([*path, unexpected[0]], "Unexpected key: expected message, description.")
                continue
            if "message" not in message:
                problem([*path, "message"], "This field is required.")
                continue
            text, description = message["message"], message.get("description", "")
            if not isinstance(text, str):
                problem([*path, "message"], "Expected a string.")
                continue
            if not isinstance(description, str):
                problem([*path, "description"], "Expected a string.")
                continue
            model_field = kind.fields.get(slug)
            if model_field is not None and model_field.max_length and (
                len(text) > model_field.max_length
            ):
                problem([*path, "message"],
                        f"Longer than the field allows ({model_field.max_length} characters).")
                continue
            entries.append(Entry(context=context, slug=slug, text=text, description=description))
    if errors:
        raise InvalidCatalogue(errors)
    return entries
