"""Acceptance: publish a product the way CumulusCI's metadeploy_publish does, read it back.

The publishing client is CumulusCI's own MetaDeployAPI (requests against a real
`plandeploy web` subprocess), making the same calls in the same order as its task.
"""

from __future__ import annotations

import httpx
import pytest
from cumulusci.core.config import ServiceConfig
from cumulusci.core.metadeploy.api import MetaDeployAPI

from plandeploy.catalog.tests import factories
from plandeploy.testing.processes import web_process

pytestmark = pytest.mark.django_db(transaction=True)

REPO_URL = "https://github.com/acme/widgets"


def test_publish_three_step_plan_then_read_it_through_the_public_api():
    product = factories.product(repo_url=REPO_URL, slug="widgets", title="Widgets")
    key = factories.api_token(factories.user(superuser=True))
    with web_process() as base_url:
        api = MetaDeployAPI(ServiceConfig({"url": f"{base_url}/admin/rest", "token": key}))

        found = api.find_product(REPO_URL)
        assert found["id"] == product.hashid and found["slug"] == "widgets"
        assert api.find_version({"product": found["id"], "label": "1.0"}) is None
        version = api.create_version({
            "product": found["url"], "label": "1.0", "description": "First",
            "is_production": True, "commit_ish": "v1.0", "is_listed": False,
        })
        assert api.find_plan_template({"product": found["id"], "name": "install"}) is None
        template = api.create_plan_template({
            "name": "install", "product": found["url"], "preflight_message": "Check *first*",
            "post_install_message": "Done", "error_message": "",
        })
        api.create_plan_slug({"slug": "install", "parent": template["url"]})
        steps = [
            {"name": f"Step {n}", "kind": "metadata", "is_required": True,
             "is_recommended": True, "path": f"step_{n}", "step_num": str(n),
             "task_class": "cumulusci.tasks.util.Sleep",
             "task_config": {"options": {"seconds": 0}, "checks": []}, "source": None}
            for n in (1, 2, 3)
        ]
        plan = api.create_plan({
            "is_listed": True, "plan_template": template["url"],
            "post_install_message_additional": "", "preflight_message_additional": "",
            "steps": steps, "supported_orgs": "Persistent", "tier": "primary",
            "title": "Install Widgets", "version": version["url"],
            "visible_to": found.get("visible_to"),
        })
        public = httpx.get(f"{base_url}/api/products/").json()
        assert public["count"] == 0  # the version is not listed yet
        api.update_version(version["id"])

        products = httpx.get(f"{base_url}/api/products/").json()
        [listed] = products["results"]
        assert listed["id"] == product.hashid
        recent = listed["most_recent_version"]
        assert recent["label"] == "1.0" and recent["id"] == version["id"]
        assert recent["primary_plan"]["id"] == plan["id"]
        detail = httpx.get(f"{base_url}/api/plans/{plan['id']}/").json()
        assert detail["title"] == "Install Widgets" and detail["slug"] == "install"
        assert [step["name"] for step in detail["steps"]] == ["Step 1", "Step 2", "Step 3"]
        assert detail["preflight_message"] == "<p>Check <em>first</em></p>\n"
        one = httpx.get(f"{base_url}/api/plans/get_one/",
                        params={"version": version["id"], "slug": "install"}).json()
        assert one["id"] == plan["id"]
