"""Apply the catalogue to a newly published plan's objects, as soon as it is published."""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import receiver

from plandeploy.catalog.models import Plan
from plandeploy.catalog.signals import plan_published
from plandeploy.translations import services
from plandeploy.translations.apply import apply_catalogue

logger = logging.getLogger(__name__)


@receiver(plan_published, dispatch_uid="translations_apply_to_published_plan")
def apply_to_published_plan(sender, plan: Plan, **kwargs) -> None:
    # A bounded number of queries for one plan: cheap enough to do in the publishing request,
    # so the plan is never shown untranslated.
    try:
        apply_catalogue(plan=plan)
    except Exception:
        # The plan is already committed; a translation failure must not fail its publication.
        # The full run retries it on a worker.
        logger.exception("applying translations to published plan %s failed", plan.pk)
        with transaction.atomic():
            services.request_update(None)
