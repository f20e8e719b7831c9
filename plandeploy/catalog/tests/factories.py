"""Small builders of catalogue rows and users for tests (real rows in the test database)."""

from __future__ import annotations

import itertools
import secrets
import time

from django.utils import timezone

from plandeploy.accounts.models import FullOrgType, OrgConnection, OrgType, User
from plandeploy.accounts.tokens import issue_token
from plandeploy.catalog.models import (
    AllowedList,
    Plan,
    PlanSlug,
    PlanTemplate,
    Product,
    ProductCategory,
    ProductSlug,
    Step,
    Version,
)

# Starts from the clock so that rows left by an earlier process (benchmarks, kept test
# databases) never collide with this one's names and slugs.
_counter = itertools.count(int(time.time() * 1000) % 10**9)


def category(**fields) -> ProductCategory:
    n = next(_counter)
    return ProductCategory.objects.create(title=fields.pop("title", f"Category {n}"), **fields)


def product(**fields) -> Product:
    n = next(_counter)
    slug = fields.pop("slug", f"product-{n}")
    row = Product.objects.create(
        title=fields.pop("title", f"Product {n}"),
        category=fields.pop("category", None) or category(),
        repo_url=fields.pop("repo_url", f"https://github.com/example/product-{n}"),
        **fields,
    )
    ProductSlug.objects.create(parent=row, slug=slug)
    return row


def version(product_row: Product | None = None, **fields) -> Version:
    n = next(_counter)
    return Version.objects.create(
        product=product_row or product(), label=fields.pop("label", f"1.{n}"), **fields
    )


def plan(
    version_row: Version | None = None,
    *,
    steps: int = 3,
    required: bool = True,
    checks: bool = False,
    **fields,
) -> Plan:
    version_row = version_row or version()
    n = next(_counter)
    template = PlanTemplate.objects.create(
        name=f"install-{n}", product=version_row.product,
        post_install_message="Thanks *for* installing.",
    )
    PlanSlug.objects.create(parent=template, slug=fields.pop("slug", f"install-{n}"))
    row = Plan.objects.create(
        title=fields.pop("title", f"Install {n}"),
        plan_template=template, version=version_row, **fields,
    )
    for index in range(1, steps + 1):
        config = {"options": {}}
        if checks and index == 1:
            config["checks"] = [{"when": "False", "action": "error", "message": "no"}]
        Step.objects.create(
            plan=row, name=f"Step {index}", step_num=str(index),
            task_class="cumulusci.core.tests.test_tasks._TaskHasResult",
            task_config=config, is_required=required or index == 1,
        )
    return row


def allowed_list(**fields) -> AllowedList:
    n = next(_counter)
    return AllowedList.objects.create(title=fields.pop("title", f"List {n}"), **fields)


def user(
    *, connected: bool = True, staff: bool = False, superuser: bool = False,
    full_org_type: str = FullOrgType.DEVELOPER, token: bool = True,
) -> User:
    n = next(_counter)
    row = User.objects.create_user(
        username=f"user{n}-{secrets.token_hex(3)}", email=f"user{n}@example.com",
        password="pw-" + secrets.token_hex(8), is_staff=staff or superuser,
        is_superuser=superuser,
    )
    if connected:
        OrgConnection.objects.create(
            user=row, org_type=OrgType.LOCAL, org_id="00D" + secrets.token_hex(8)[:15].upper(),
            org_name=f"Org {n}", organization_type="Developer Edition",
            full_org_type=full_org_type, access_token=secrets.token_urlsafe(16) if token else None,
            token_created_at=timezone.now(),
        )
    return User.objects.get(pk=row.pk)


def api_token(user_row: User) -> str:
    return issue_token(user_row)
