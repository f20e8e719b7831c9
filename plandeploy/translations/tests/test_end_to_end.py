"""PATCH on a real web server, the job on a real worker, then the public API in Spanish."""

from __future__ import annotations

import httpx
import pytest

from plandeploy.accounts.models import User
from plandeploy.accounts.tokens import issue_token
from plandeploy.testing.processes import wait_until, web_process, worker_process
from plandeploy.tests import queue_rows
from plandeploy.translations.tests.builders import make_plan, make_product

pytestmark = pytest.mark.django_db(transaction=True)


def job_outcome(job_id: int) -> str | None:
    """None while the job waits or runs; "succeeded" once the worker deleted it; else its status."""
    status = queue_rows.job_status(job_id)
    if status is None:
        return "succeeded"
    return None if status in ("todo", "doing") else status


def test_patch_then_worker_then_public_api_speaks_spanish_with_english_fallback():
    product = make_product(title="Acme Widgets", short_description="Widgets for everyone")
    plan = make_plan(product, label="1.2", title="Full", steps=[
        ("Install Acme Widgets 1.2", "Deploys the package"),
        ("Configure layouts", "Not translated"),
    ])
    key = issue_token(User.objects.create_user("admin", is_staff=True, is_superuser=True))
    body = {
        "acme:product": {"title": {"message": "Widgets de Acme"}},
        "acme:plan:Full install": {"title": {"message": "Completo"}},
        "acme:steps": {
            "Install {product} {version}": {"message": "Instalar {product} {version}"},
            "Configure layouts": {"message": "Configurar diseños"},
        },
    }

    with worker_process(queues="short", concurrency=1), web_process() as base_url:
        patched = httpx.patch(f"{base_url}/admin/rest/translations/es", json=body,
                              headers={"Authorization": f"token {key}"}, timeout=30)
        assert patched.status_code == 200, patched.text
        job_id = patched.json()["job_id"]
        assert wait_until(lambda: job_outcome(job_id), timeout=60,
                          message="the worker to run update_all_translations") == "succeeded"

        def get(path: str, language: str) -> dict:
            response = httpx.get(f"{base_url}{path}", headers={"Accept-Language": language},
                                 timeout=30)
            assert response.status_code == 200, response.text
            return response.json()

        spanish_plan = get(f"/api/plans/{plan.hashid}/", "es")
        english_plan = get(f"/api/plans/{plan.hashid}/", "en")
        french_plan = get(f"/api/plans/{plan.hashid}/", "fr")
        spanish_products = get("/api/products/", "es-ES,es;q=0.9")

    assert spanish_plan["title"] == "Completo"
    assert [(s["name"], s["description"]) for s in spanish_plan["steps"]] == [
        ("Instalar Acme Widgets 1.2", "Deploys the package"),  # no entry: English
        ("Configurar diseños", "Not translated"),
    ]
    assert english_plan["title"] == "Full"
    assert english_plan["steps"][0]["name"] == "Install Acme Widgets 1.2"
    assert french_plan["title"] == "Full"  # no French catalogue: English throughout
    (listed,) = spanish_products["results"]
    assert listed["title"] == "Widgets de Acme"
    assert listed["short_description"] == "Widgets for everyone"  # no entry: English
