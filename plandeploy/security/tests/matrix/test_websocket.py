"""Every subscribable model of /ws/notifications/ × its objects × every kind of caller:
whether the subscription is accepted, through a real `plandeploy web` process.

The models come from the code (live.permissions.MODELS), so a model that becomes
subscribable without an entry here fails `test_every_subscribable_model_has_objects`. The
rules: a user's own events only to that user; a job to anyone when public, else to staff,
its owner and the session holding its scratch org; a preflight to staff, its owner and the
session holding its org's scratch org; an org only to its own user or scratch session (staff
get no bypass: its events name the org's running job and preflight); a scratch org to staff
and the session holding it. Sessions are carried by the cookie, as a browser sends it; an
API token means nothing to the socket.
"""

from __future__ import annotations

import pytest

from plandeploy.live.permissions import MODELS
from plandeploy.live.tests.helpers import open_socket, subscribe
from plandeploy.security.tests.matrix.callers import IDENTITIES, World, make_world, session_cookie
from plandeploy.testing.processes import web_process

pytestmark = pytest.mark.django_db(transaction=True)

STAFF = {"staff", "superuser"}


def only(*identities: str) -> dict[str, bool]:
    return {identity: identity in identities for identity in IDENTITIES}


# object → (model, who may subscribe)
EXPECTED: dict[str, tuple[str, dict[str, bool]]] = {
    "the owner": ("user", only("user")),
    "the owner's private job": ("job", only("user", *STAFF)),
    "the owner's public job": ("job", only(*IDENTITIES)),
    "the scratch org's job": ("job", only("scratch", *STAFF)),
    "the owner's preflight": ("preflightresult", only("user", *STAFF)),
    "the scratch org's preflight": ("preflightresult", only("scratch", *STAFF)),
    "the owner's org": ("org", only("user")),
    "the scratch org's org": ("org", only("scratch")),
    "the plan's scratch org": ("scratchorg", only("scratch", *STAFF)),
    "the other plan's scratch org": ("scratchorg", only("scratch_other", *STAFF)),
}


def object_id(name: str, world: World) -> str | int:
    return {
        "the owner": world.owner.hashid,
        "the owner's private job": world.job.hashid,
        "the owner's public job": world.public_job.hashid,
        "the scratch org's job": world.scratch_job.hashid,
        "the owner's preflight": world.preflight.pk,
        "the scratch org's preflight": world.scratch_preflight.pk,
        "the owner's org": world.owner.org_id,
        "the scratch org's org": world.scratch_org.org_id,
        "the plan's scratch org": world.scratch_org.hashid,
        "the other plan's scratch org": world.other_scratch_org.hashid,
    }[name]


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), web_process() as base_url:
        yield base_url


def test_every_subscribable_model_has_objects():
    assert sorted({model for model, _who in EXPECTED.values()}) == sorted(MODELS)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_who_may_subscribe(web, name):
    model, expected = EXPECTED[name]
    world = make_world()
    target = object_id(name, world)
    got = {}
    for identity in IDENTITIES:
        with open_socket(web, session_cookie(identity, world)) as socket:
            reply = subscribe(socket, model, target)
        assert reply == {"error": "Invalid subscription."} or "ok" in reply, reply
        got[identity] = "ok" in reply
    assert got == expected
