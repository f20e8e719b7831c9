"""Every route of /api/ and /admin/rest/ × every kind of caller × every method: the status.

The routes come from the URL conf, so a new route (or a new method on one) without an
entry in EXPECTED fails `test_every_route_has_an_entry`. Writes send `{}`: a caller who may
write gets the body's 400 (or the action's own answer), one who may not gets 401/403/404
before the body is looked at. The rules are the reference's permission rules (catalogue
public; jobs visible to owner, staff and the job's scratch session, changed by owner,
superuser or that session; preflights and scratch orgs only for the caller's own org or
session; the admin API for staff from an allowed network), with this service's choices:
anonymous preflight without a scratch org is 403, and an expired API token is 401 always.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from plandeploy.api.tests.helpers import complete_scratch_org, hold_scratch_org
from plandeploy.catalog.models import AllowedListOrg, PlanSlug, ProductSlug
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job

pytestmark = pytest.mark.django_db

IDENTITIES = ("anonymous", "scratch", "user", "other_user", "staff", "superuser", "expired")
PREFIXES = ("api/", "admin/rest/")


def _walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield prefix + str(pattern.pattern), namespace + pattern.name, pattern.callback


def routes() -> dict[tuple[str, str], str]:
    """(url name, METHOD) → route, for every API route in the URL conf."""
    found = {}
    for route, name, callback in _walk(get_resolver().url_patterns):
        if not route.startswith(PREFIXES):
            continue
        actions = getattr(callback, "actions", None)
        if actions:
            # DRF adds HEAD for GET when a view is first called: not a route of its own.
            methods = [m for m in actions if m not in ("head", "options")]
        else:
            view = callback.view_class
            methods = [m for m in view.http_method_names
                       if hasattr(view, m) and m not in ("options", "head")]
        for method in methods:
            found[(name, method.upper())] = route
    return found


def everyone(status: int) -> dict[str, int]:
    return {identity: status for identity in IDENTITIES} | {"expired": 401}


def signed_in_only(ok: int, anonymous: int = 401) -> dict[str, int]:
    return everyone(ok) | {"anonymous": anonymous, "scratch": anonymous}


ADMIN_ONLY = {"anonymous": 401, "scratch": 401, "user": 403, "other_user": 403, "expired": 401}


def admin(ok: int) -> dict[str, int]:
    return ADMIN_ONLY | {"staff": ok, "superuser": ok}


PUBLIC_READ = everyone(200)
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("schema", "GET"): PUBLIC_READ,
    ("api-docs", "GET"): PUBLIC_READ,
    ("ui-bootstrap", "GET"): PUBLIC_READ,
    ("user", "GET"): signed_in_only(200),
    ("productcategory-list", "GET"): PUBLIC_READ,
    ("productcategory-detail", "GET"): PUBLIC_READ,
    ("product-list", "GET"): PUBLIC_READ,
    ("product-detail", "GET"): PUBLIC_READ,
    ("product-get-one", "GET"): everyone(404),  # no slug given
    ("version-list", "GET"): PUBLIC_READ,
    ("version-detail", "GET"): PUBLIC_READ,
    ("version-get-one", "GET"): everyone(404),
    ("version-additional-plans", "GET"): PUBLIC_READ,
    ("plan-list", "GET"): PUBLIC_READ,
    ("plan-detail", "GET"): PUBLIC_READ,
    ("plan-get-one", "GET"): everyone(404),
    # Only the caller's own org's preflight, and there is none yet.
    ("plan-preflight", "GET"): everyone(404),
    # "user" has the running job on that org: the org is busy (400).
    ("plan-preflight", "POST"): everyone(201) | {"anonymous": 403, "user": 400},
    ("plan-preflight", "DELETE"): everyone(404) | {"anonymous": 401},
    ("plan-scratch-org", "GET"): everyone(404) | {"scratch": 200},
    ("plan-scratch-org", "POST"): everyone(400),  # the e-mail is required
    ("plan-scratch-org-claim", "POST"): everyone(400),  # the uuid is required
    # "View org" only for the session holding that (Dev Hub) org: none here.
    ("scratch-org-redirect", "GET"): everyone(404),
    ("job-list", "POST"): everyone(400) | {"anonymous": 401},
    # The job belongs to "user", is not public and is not the scratch session's.
    ("job-detail", "GET"): everyone(404) | {"user": 200, "staff": 200, "superuser": 200},
    ("job-detail", "PATCH"): {"anonymous": 401, "scratch": 404, "user": 200, "other_user": 404,
                              "staff": 403, "superuser": 200, "expired": 401},
    ("job-detail", "PUT"): {"anonymous": 401, "scratch": 404, "user": 400, "other_user": 404,
                            "staff": 403, "superuser": 400, "expired": 401},
    ("job-detail", "DELETE"): {"anonymous": 401, "scratch": 404, "user": 204,
                               "other_user": 404, "staff": 403, "superuser": 204,
                               "expired": 401},
    ("org-list", "GET"): PUBLIC_READ,
    ("org-connect", "POST"): signed_in_only(201),
    ("admin-translations", "PATCH"): admin(200),
}
ADMIN_RESOURCES = ("product", "productslug", "productcategory", "version", "plantemplate",
                   "planslug", "plan", "allowedlist", "allowedlistorg")
for _resource in ADMIN_RESOURCES:
    EXPECTED |= {
        (f"adminapi:{_resource}-list", "GET"): admin(200),
        (f"adminapi:{_resource}-list", "POST"): admin(400),
        (f"adminapi:{_resource}-detail", "GET"): admin(200),
        (f"adminapi:{_resource}-detail", "PUT"): admin(400),
        (f"adminapi:{_resource}-detail", "PATCH"): admin(200),
        # Deleting an object others still refer to is a 409.
        (f"adminapi:{_resource}-detail", "DELETE"): admin(
            409 if _resource in ("product", "productcategory", "version", "plantemplate", "plan")
            else 204),
    }


def test_every_route_has_an_entry_and_every_entry_a_route():
    listed = routes()
    assert sorted(set(listed) - set(EXPECTED)) == []  # a new route needs its expectations
    assert sorted(set(EXPECTED) - set(listed)) == []


def _world():
    plan = factories.plan(steps=1, supported_orgs="Both")
    owner = factories.user()
    job = Job.objects.create(plan=plan, user=owner, org_id=owner.org_id)
    product, template = plan.version.product, plan.plan_template
    allowed = factories.allowed_list()
    ids = {
        "product": product.hashid, "version": plan.version.hashid, "plan": plan.hashid,
        "job": job.hashid, "productcategory": str(product.category_id),
        "plantemplate": str(getattr(template, "hashid", None) or template.pk),
        "productslug": str(ProductSlug.objects.filter(parent=product).first().pk),
        "planslug": str(PlanSlug.objects.filter(parent=template).first().pk),
        "allowedlist": str(getattr(allowed, "hashid", None) or allowed.pk),
        "allowedlistorg": str(AllowedListOrg.objects.create(
            allowed_list=allowed, org_id="00D000000000001").pk),
        "scratch_org": "someone-elses-org",
    }
    return plan, owner, ids


def _client(identity: str, plan, owner) -> APIClient:
    client = APIClient()
    if identity == "scratch":
        hold_scratch_org(client, complete_scratch_org(plan))
    elif identity != "anonymous":
        user = {"user": lambda: owner, "other_user": factories.user,
                "staff": lambda: factories.user(staff=True),
                "superuser": lambda: factories.user(superuser=True),
                "expired": lambda: factories.user(superuser=True)}[identity]()
        key = factories.api_token(user)
        if identity == "expired":
            Token.objects.filter(user=user).update(created=timezone.now() - timedelta(days=365))
        client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    return client


def _url(name: str, route: str, ids: dict[str, str]) -> str:
    if "<str:lang>" in route:
        return reverse(name, kwargs={"lang": "es"})
    if "<str:org_id>" in route:
        return reverse(name, kwargs={"org_id": ids["scratch_org"]})
    if "(?P<pk>" not in route:
        return reverse(name)
    resource = name.split(":")[-1].rsplit("-", 1)[0]
    resource = {"plan-scratch-org": "plan", "plan-preflight": "plan",
                "version-additional-plans": "version", "plan-scratch": "plan"}.get(resource,
                                                                                 resource)
    resource = resource.split("-")[0]
    return reverse(name, kwargs={"pk": ids[resource]})


@pytest.fixture(autouse=True)
def fast_setup(settings):
    settings.RATE_LIMITS = {scope: "1000000/h" for scope in settings.RATE_LIMITS}
    settings.MAX_QUEUE_LENGTH = 10**6
    # Hundreds of users are made here; the real hasher's cost would be most of the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.parametrize(("name", "method"), sorted(EXPECTED))
def test_status_for_every_caller(name, method):
    route = routes()[(name, method)]
    got = {}
    world = _world()
    for identity in IDENTITIES:
        plan, owner, ids = world
        client = _client(identity, plan, owner)
        response = client.generic(method, _url(name, route, ids), "{}",
                                  content_type="application/json")
        got[identity] = response.status_code
        if method == "DELETE" and response.status_code == 204:
            world = _world()  # fresh rows: one caller's delete must not change the next answer
    assert got == EXPECTED[(name, method)]
