"""`{{ status|state_label }}`: a job's or step's state as the page's language reads it."""

from __future__ import annotations

from django import template

from plandeploy.web import presenters

register = template.Library()


@register.filter
def state_label(state: str) -> str:
    return presenters.state_labels().get(state, state)
