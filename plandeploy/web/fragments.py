"""The parts of the plan page that show only the catalogue, rendered once per catalogue
version and language and reused (plandeploy/catalog/cache.py says why that is never stale).

Why: rendering the page's templates cost as much as everything else a request does, and most
of the page (the headings, the plan's texts, the steps table) is the same for every visitor.
A fragment holds nothing of a visitor: no CSRF token, no name, no org, no preflight result.
What a visitor may see is decided by the page, which only includes a fragment it may show.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from plandeploy.catalog import cache
from plandeploy.catalog.models import Plan
from plandeploy.web import presenters


def _cached(request: HttpRequest, key: Hashable, build: Callable[[], object]):
    # The language is part of the key: the templates and the catalogue's texts are translated.
    return cache.CACHE.get(cache.request_version(request),
                           ("web-fragment", key, get_language()), build)


def _render(template: str, context: dict) -> SafeString:
    # Rendered without the request: a fragment must not depend on one.
    return mark_safe(render_to_string(template, context))


def plan_texts(request: HttpRequest, plan: Plan) -> dict[str, str]:
    """presenters.plan_texts (the plan's Markdown as HTML), once per catalogue version."""
    return _cached(request, ("plan-texts", plan.pk), lambda: presenters.plan_texts(plan))


def plan_head(request: HttpRequest, plan: Plan, context: dict) -> SafeString:
    """The breadcrumb, the title, and the notice of an old version.

    `context` holds what web/plan_head.html shows, all of it from the catalogue.
    """
    return _cached(request, ("plan-head", plan.pk),
                   lambda: _render("web/plan_head.html", context))


def plan_intro(request: HttpRequest, plan: Plan, texts: dict[str, str]) -> SafeString:
    """The plan's preflight message and its average duration."""
    return _cached(request, ("plan-intro", plan.pk),
                   lambda: _render("web/plan_intro.html", {"plan": plan, "texts": texts}))


def plan_steps(request: HttpRequest, plan: Plan,
               rows: list[presenters.StepRow]) -> SafeString:
    """The steps table of `rows`: from the cache when they are the catalogue's own rows (no
    preflight changed them), else rendered for this request, as a preflight's results are
    its org's."""
    catalogue_rows, html = _cached(request, ("plan-steps", plan.pk), lambda: (
        (shown := presenters.step_rows(plan, None)),
        _render("web/plan_steps.html", {"steps": shown})))
    if rows == catalogue_rows:
        return html
    return _render("web/plan_steps.html", {"steps": rows})
