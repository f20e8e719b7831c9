"""Two web processes count against one limit: the counters live in the shared database."""

from __future__ import annotations

import httpx
import pytest

from plandeploy.catalog.tests import factories
from plandeploy.testing.processes import web_process
from plandeploy.tests.queue_rows import clear_queue

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_queue_rows_left():
    # The scratch-org requests defer creation jobs no worker here runs; later tests must
    # not meet them.
    yield
    clear_queue()


def test_two_web_processes_share_the_admin_api_and_scratch_org_counts():
    key = factories.api_token(factories.user(superuser=True))
    plan = factories.plan(supported_orgs="Scratch")
    limits = {"ADMIN_API_THROTTLE": "3/h", "RATE_LIMIT_SCRATCH_ORG": "2/h",
              "MAX_QUEUE_LENGTH": "1000"}
    with web_process(**limits) as first, web_process(**limits) as second:
        admin = {"Authorization": f"token {key}"}
        codes = [httpx.get(f"{base}/admin/rest/products", headers=admin, timeout=30)
                 for base in (first, second, first, second)]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        assert int(codes[3].headers["Retry-After"]) > 0
        assert codes[3].json()["detail"].startswith("Request was throttled.")

        statuses = []
        for base in (first, second, first):
            browser = httpx.Client(base_url=base, timeout=30)
            browser.get("/api/ui/bootstrap/").raise_for_status()
            statuses.append(browser.post(
                f"/api/plans/{plan.hashid}/scratch_org/", json={"email": "a@example.com"},
                headers={"X-CSRFToken": browser.cookies["csrftoken"]},
            ).status_code)
        assert statuses == [202, 202, 429]
