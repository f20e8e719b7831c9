"""Schemathesis against /api/schema/: generated requests to every operation, no 5xx allowed.

The examples per operation are bounded (SCHEMATHESIS_EXAMPLES, default 15) so the run
stays short; requests go in-process through Django's WSGI handler to the test database,
once with a signed-in user's API token and once with a superuser's (the admin API's only
callers). As the user, no admin operation may succeed. Each run prints its figures
(operations, cases, server errors).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as settings_

from plandeploy.catalog.tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))


def test_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/plans/{id}/", "/api/plans/{id}/preflight/", "/api/jobs/",
                 "/api/plans/{id}/scratch_org/", "/admin/rest/plans"):
        assert path in paths


@pytest.mark.parametrize("identity", ["user", "superuser"])
def test_no_generated_request_gets_a_server_error(identity, settings):
    # Thousands of generated calls from one client: the limits are not what is tested here.
    settings.RATE_LIMITS = {scope: "1000000/h" for scope in settings.RATE_LIMITS}
    plan = factories.plan(steps=2, supported_orgs="Both")
    factories.plan(factories.version(plan.version.product), steps=1)
    user = factories.user(superuser=identity == "superuser")
    key = factories.api_token(user)
    app = get_wsgi_application()
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
    failures: list[str] = []
    admin_successes: list[str] = []
    operations = cases = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings_(max_examples=EXAMPLES, deadline=None, database=None,
                   phases=[Phase.explicit, Phase.generate],
                   suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            nonlocal cases
            cases += 1
            if isinstance(case.path_parameters, dict) and "id" in case.path_parameters:
                # Half the time aim at a real object so deeper code paths run too.
                if hash(str(case.path_parameters["id"])) % 2:
                    case.path_parameters["id"] = plan.hashid
            response = case.call(headers={"Authorization": f"token {key}"})
            documented = case.path.endswith("/scratch_org/") and response.status_code in (501, 503)
            if response.status_code >= 500 and not documented:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )
            if (identity == "user" and case.path.startswith("/admin/")
                    and 200 <= response.status_code < 300):
                admin_successes.append(f"{case.method} {case.formatted_path}")

        check()
    # The figures the CI log keeps: how much was tried, and what failed.
    print(f"\nschemathesis[{identity}]: operations={operations} cases={cases} "
          f"server_errors={len(failures)}")
    assert operations > 20
    assert failures == []
    assert admin_successes == []
