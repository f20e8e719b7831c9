"""Every route of /api/ and /admin/rest/ × every kind of caller (callers.py) × every method.

The routes come from the URL conf, so a new route (or a new method on one) without an
entry in EXPECTED fails `test_every_route_has_an_entry`. Writes send `{}`: a caller who may
write gets the body's 400 (or the action's own answer), one who may not gets 401/403/404
before the body is looked at. The rules are the reference's permission rules (catalogue
public; jobs visible to owner, staff and the job's scratch session, changed by owner,
superuser or that session; preflights and scratch orgs only for the caller's own org or
session; the admin API for superusers from an allowed network: staff alone get 403), with
this service's choices: anonymous preflight without a scratch org is 403, and an expired API
token is 401 always.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from plandeploy.catalog.models import AllowedListOrg, PlanSlug, ProductSlug
from plandeploy.catalog.tests import factories
from plandeploy.security.tests.matrix.callers import IDENTITIES, api_client, make_world
from plandeploy.security.tests.matrix.routes import walk

pytestmark = pytest.mark.django_db

PREFIXES = ("api/", "admin/rest/")


def routes() -> dict[tuple[str, str], str]:
    """(url name, METHOD) → route, for every API route in the URL conf."""
    found = {}
    for route, name, callback in walk():
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
    return everyone(ok) | {"anonymous": anonymous, "scratch": anonymous,
                           "scratch_other": anonymous}


ADMIN_ONLY = {"anonymous": 401, "scratch": 401, "scratch_other": 401, "user": 403,
              "other_user": 403, "staff": 403, "expired": 401}


def admin(ok: int) -> dict[str, int]:
    return ADMIN_ONLY | {"superuser": ok}


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
    # Only the caller's own org's preflight: the owner's and the plan's scratch org's.
    ("plan-preflight", "GET"): everyone(404) | {"user": 200, "scratch": 200},
    # "user" has the running job on that org: the org is busy (400). A scratch org of
    # another plan is no org for this one.
    ("plan-preflight", "POST"): everyone(201) | {"anonymous": 403, "scratch_other": 403,
                                                 "user": 400},
    # Nothing running to cancel; a session whose scratch org is another plan's has no org here.
    ("plan-preflight", "DELETE"): everyone(404) | {"anonymous": 401, "scratch_other": 401},
    ("plan-scratch-org", "GET"): everyone(404) | {"scratch": 200},
    ("plan-scratch-org", "POST"): everyone(400),  # the e-mail is required
    ("plan-scratch-org-claim", "POST"): everyone(400),  # the uuid is required
    # "View org" only for the session holding that (Dev Hub) org: none here.
    ("scratch-org-redirect", "GET"): everyone(404),
    ("job-list", "POST"): everyone(400) | {"anonymous": 401},
    # The job belongs to "user", is not public and is not the scratch session's.
    ("job-detail", "GET"): everyone(404) | {"user": 200, "staff": 200, "superuser": 200},
    ("job-detail", "PATCH"): {"anonymous": 401, "scratch": 404, "scratch_other": 404,
                              "user": 200, "other_user": 404, "staff": 403, "superuser": 200,
                              "expired": 401},
    ("job-detail", "PUT"): {"anonymous": 401, "scratch": 404, "scratch_other": 404,
                            "user": 400, "other_user": 404, "staff": 403, "superuser": 400,
                            "expired": 401},
    ("job-detail", "DELETE"): {"anonymous": 401, "scratch": 404, "scratch_other": 404,
                               "user": 204, "other_user": 404, "staff": 403, "superuser": 204,
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


def _ids(world) -> dict[str, str]:
    plan = world.plan
    product, template = plan.version.product, plan.plan_template
    allowed = factories.allowed_list()
    return {
        "product": product.hashid, "version": plan.version.hashid, "plan": plan.hashid,
        "job": world.job.hashid, "productcategory": str(product.category_id),
        "plantemplate": str(getattr(template, "hashid", None) or template.pk),
        "productslug": str(ProductSlug.objects.filter(parent=product).first().pk),
        "planslug": str(PlanSlug.objects.filter(parent=template).first().pk),
        "allowedlist": str(getattr(allowed, "hashid", None) or allowed.pk),
        "allowedlistorg": str(AllowedListOrg.objects.create(
            allowed_list=allowed, org_id="00D000000000001").pk),
        "scratch_org": "someone-elses-org",
    }


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
    world = make_world()
    ids = _ids(world)
    for identity in IDENTITIES:
        client = api_client(identity, world)
        response = client.generic(method, _url(name, route, ids), "{}",
                                  content_type="application/json")
        got[identity] = response.status_code
        if method == "DELETE" and response.status_code == 204:
            # Fresh rows: one caller's delete must not change the next answer.
            world = make_world()
            ids = _ids(world)
    assert got == EXPECTED[(name, method)]
