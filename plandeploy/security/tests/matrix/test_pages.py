"""Every page route (everything outside /api/ and /admin/) × every kind of caller × GET and
POST: the status, and for a form whether it did what it is for.

The routes come from the URL conf, so a new page route without an entry in EXPECTED fails
`test_every_page_route_has_an_entry`. A form's redirect says little by itself (a refused
form redirects back with a message too), so for each form the matrix also looks at what
it changed: a preflight, a job or a scratch org made, an org connected, the job canceled
or shared ("302 done"). The rules: the catalogue, plan and sign-in pages are public; a
job's page is for its owner, staff and its scratch session (404 for anyone else); cancel
and share are for the owner, a superuser or the scratch session (staff who may read it
get 404 too: they learn nothing they could not see); preflight and install act on the
caller's own org (a signed-in user's, or this plan's scratch org); my installations and
org connect need a signed-in user; an API token means nothing to a page. Without a CSRF
token every form POST is refused with 403 and changes nothing, whoever sends it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.urls import reverse

from plandeploy.accounts.models import OrgConnection
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status
from plandeploy.security.tests.matrix.callers import IDENTITIES, World, make_world, page_client
from plandeploy.security.tests.matrix.routes import walk

pytestmark = pytest.mark.django_db

NOT_PAGES = ("api/", "admin/")
METHODS = ("GET", "POST")
DONE = "302 done"


def page_routes() -> dict[str, str]:
    """url name → route, for every route outside the two APIs and the admin site."""
    return {name: route for route, name, _view in walk() if not route.startswith(NOT_PAGES)}


def everyone(answer: int | str) -> dict[str, int | str]:
    return dict.fromkeys(IDENTITIES, answer)


SIGNED_IN = ("user", "other_user", "staff", "superuser")


def signed_in(answer: int | str, others: int | str) -> dict[str, int | str]:
    return everyone(others) | dict.fromkeys(SIGNED_IN, answer)


# Who may change the matrix's job (the owner's, private, still running).
JOB_CHANGE = everyone(404) | {"user": DONE, "superuser": DONE}
EXPECTED: dict[tuple[str, str], dict[str, int | str]] = {
    ("healthz", "GET"): everyone(200),
    ("healthz", "POST"): everyone(405),
    ("readyz", "GET"): everyone(200),
    ("readyz", "POST"): everyone(405),
    # Only from an address in METRICS_ALLOWED_SUBNETS or with its token.
    ("metrics", "GET"): everyone(200),
    ("metrics", "POST"): everyone(405),
    ("login", "GET"): everyone(200),
    ("login", "POST"): everyone(200),  # no credentials: the form again, with its errors
    # Salesforce sign-in is off in the tests' settings: the form says so (404).
    ("salesforce_login", "GET"): everyone(405),
    ("salesforce_login", "POST"): everyone(404),
    ("salesforce_callback", "GET"): everyone(404),
    ("salesforce_callback", "POST"): everyone(404),
    ("logout", "GET"): everyone(405),
    ("logout", "POST"): everyone(302),
    ("set_language", "GET"): everyone(302),
    ("set_language", "POST"): everyone(302),
    ("web:home", "GET"): everyone(200),
    ("web:home", "POST"): everyone(405),
    ("web:my_installations", "GET"): signed_in(200, 302),  # else to the sign-in page
    ("web:my_installations", "POST"): everyone(405),
    ("web:connect_org", "GET"): everyone(405),
    ("web:connect_org", "POST"): signed_in(DONE, 302),
    ("web:product", "GET"): everyone(200),
    ("web:product", "POST"): everyone(405),
    ("web:version", "GET"): everyone(200),
    ("web:version", "POST"): everyone(405),
    ("web:plan", "GET"): everyone(200),
    ("web:plan", "POST"): everyone(405),
    ("web:preflight", "GET"): everyone(405),
    # "user"'s org is busy with the running job; a scratch org of another plan is no org
    # for this one.
    ("web:preflight", "POST"): everyone(302) | {"scratch": DONE, "other_user": DONE,
                                                "staff": DONE, "superuser": DONE},
    ("web:install", "GET"): everyone(405),
    ("web:install", "POST"): everyone(302) | {"scratch": DONE, "other_user": DONE,
                                              "staff": DONE, "superuser": DONE},
    ("web:scratch_org", "GET"): everyone(405),
    ("web:scratch_org", "POST"): everyone(DONE),
    ("web:job", "GET"): everyone(404) | {"user": 200, "staff": 200, "superuser": 200},
    ("web:job", "POST"): everyone(405),
    ("web:job_cancel", "GET"): everyone(405),
    ("web:job_cancel", "POST"): JOB_CHANGE,
    ("web:job_share", "GET"): everyone(405),
    ("web:job_share", "POST"): JOB_CHANGE,
}
# The routes that take a POST from someone: their forms must carry a CSRF token.
FORMS = sorted(name for name, method in EXPECTED if method == "POST"
               and any(answer != 405 for answer in EXPECTED[name, method].values()))


def _url(name: str, route: str, world: World) -> str:
    plan = world.plan
    kwargs = {"product": plan.version.product.slug, "version": plan.version.label,
              "plan": plan.slug, "job": world.job.hashid}
    return reverse(name, kwargs={key: kwargs[key] for key in kwargs if f":{key}>" in route})


def _form(name: str, world: World) -> dict:
    return {
        "web:install": {"steps": [step.hashid for step in world.plan.steps.all()],
                        "accept": "yes"},
        "web:scratch_org": {"email": "requester@example.com"},
        "web:job_share": {"is_public": "yes"},
        "set_language": {"language": "es", "next": "/"},
        "web:connect_org": {"next": "/"},
    }.get(name, {})


def _state(name: str, world: World) -> Callable[[], object]:
    """What the form changes, read before and after it."""
    return {
        "web:preflight": lambda: PreflightResult.objects.filter(
            plan=world.plan, status=Status.STARTED).count(),
        "web:install": lambda: Job.objects.filter(plan=world.plan).count(),
        "web:scratch_org": lambda: ScratchOrg.objects.count(),
        "web:connect_org": lambda: sorted(OrgConnection.objects.values_list(
            "user_id", "token_created_at")),
        "web:job_cancel": lambda: Job.objects.get(pk=world.job.pk).status,
        "web:job_share": lambda: Job.objects.get(pk=world.job.pk).is_public,
    }.get(name, lambda: None)


@pytest.fixture(autouse=True)
def fast_setup(settings):
    settings.RATE_LIMITS = {scope: "1000000/h" for scope in settings.RATE_LIMITS}
    settings.MAX_QUEUE_LENGTH = 10**6
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.READY_REQUIRES_WORKER = False  # no worker runs here; readiness is not the point


def test_every_page_route_has_an_entry_and_every_entry_a_route():
    listed = page_routes()
    expected = {name for name, _method in EXPECTED}
    assert sorted(set(listed) - expected) == []  # a new page needs its expectations
    assert sorted(expected - set(listed)) == []
    assert sorted(EXPECTED) == sorted((name, method) for name in listed for method in METHODS)


def _answer(name: str, method: str, identity: str, *, enforce_csrf: bool = False):
    world = make_world()  # fresh rows for each caller: a form's effect must not carry over
    client = page_client(identity, world, enforce_csrf=enforce_csrf)
    read = _state(name, world)
    before = read()
    url = _url(name, page_routes()[name], world)
    response = client.get(url) if method == "GET" else client.post(url, _form(name, world))
    changed = read() != before
    return response, changed


@pytest.mark.parametrize(("name", "method"), sorted(EXPECTED))
def test_status_for_every_caller(name, method):
    got = {}
    for identity in IDENTITIES:
        response, changed = _answer(name, method, identity)
        got[identity] = DONE if changed and response.status_code == 302 else (
            response.status_code if not changed else f"{response.status_code} changed")
    assert got == EXPECTED[(name, method)]


@pytest.mark.parametrize("name", FORMS)
def test_a_form_posted_without_a_csrf_token_is_refused_and_changes_nothing(name):
    for identity in IDENTITIES:
        response, changed = _answer(name, "POST", identity, enforce_csrf=True)
        assert (response.status_code, changed) == (403, False), (identity, response.content)
        assert "This form has expired." in response.content.decode()
