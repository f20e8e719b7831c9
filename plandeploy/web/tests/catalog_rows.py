"""Catalogue rows with page URLs (slugs) for the page tests: the sample product, published."""

from __future__ import annotations

import secrets

from plandeploy.catalog.models import Plan, PlanSlug, ProductSlug
from plandeploy.runs.tests.factories import publish_plan, step_data


def sample_plan(steps: list[dict] | None = None, **plan_fields):
    """The sample product's plan (or one with `steps`), with product and plan slugs."""
    plan = publish_plan(steps=steps)
    product = plan.version.product
    ProductSlug.objects.create(parent=product, slug=f"sample-{secrets.token_hex(3)}")
    PlanSlug.objects.create(parent=plan.plan_template, slug="install")
    product.click_through_agreement = "You agree to **test** things."
    product.save()
    plan.plan_template.post_install_message = "All *done*."
    plan.plan_template.error_message = "Contact support about this failure."
    plan.plan_template.save()
    Plan.objects.filter(pk=plan.pk).update(**plan_fields)
    return Plan.objects.get(pk=plan.pk)


def wait_steps(seconds: float, fail_second: bool = False) -> list[dict]:
    """Two steps: a wait of `seconds`, then a step that succeeds or fails."""
    return [
        step_data("1", "tasks.wait.Wait", seconds=seconds),
        step_data("2", "tasks.settings.ConfigureSettings", fail=fail_second,
                  settings={"theme": "dark"}),
    ]
