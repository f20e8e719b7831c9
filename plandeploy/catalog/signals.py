"""Signals the catalogue sends: plan_published(plan) once a plan and its steps are committed."""

from django.dispatch import Signal

plan_published = Signal()
