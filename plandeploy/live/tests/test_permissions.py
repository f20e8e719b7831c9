"""Who may subscribe to what on /ws/notifications/, bad subscriptions, and the Origin check.

Against a real `plandeploy web` process and the test database; sessions are real Django
sessions carried by the cookie, as a browser would.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from django.contrib.sessions.models import Session
from websockets.exceptions import InvalidStatus

from plandeploy.catalog.tests import factories
from plandeploy.live.tests.helpers import open_socket, session_cookie, subscribe
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status

pytestmark = pytest.mark.django_db(transaction=True)

INVALID = {"error": "Invalid subscription."}


def ok(model: str, object_id: str) -> dict:
    return {"ok": f"Subscribed to {model}.id = {object_id}"}


@pytest.fixture
def people():
    owner, other = factories.user(), factories.user()
    staff = factories.user(staff=True)
    return {
        "owner": session_cookie(owner), "other": session_cookie(other),
        "staff": session_cookie(staff), "anonymous": None,
        "users": {"owner": owner, "other": other, "staff": staff},
    }


def answers(web: str, people: dict, model: str, object_id, **extra) -> dict[str, bool]:
    """For each kind of visitor, whether the subscription is accepted."""
    accepted = {}
    for who in ("owner", "other", "staff", "anonymous"):
        with open_socket(web, people[who]) as socket:
            reply = subscribe(socket, model, object_id, **extra)
            assert reply == INVALID or "ok" in reply, reply
            accepted[who] = "ok" in reply
    return accepted


def scratch_org(plan, org_id: str | None = "00DSCRATCHLIVE0001") -> ScratchOrg:
    status = Status.COMPLETE if org_id else Status.STARTED
    return ScratchOrg.objects.create(plan=plan, status=status, org_id=org_id)


def test_user_only_the_same_user(web, people):
    owner = people["users"]["owner"]
    assert answers(web, people, "user", owner.hashid) == {
        "owner": True, "other": False, "staff": False, "anonymous": False}
    with open_socket(web, people["owner"]) as socket:
        assert subscribe(socket, "user", owner.hashid) == ok("user", owner.hashid)


def test_job_public_or_owner_or_staff(web, people):
    owner = people["users"]["owner"]
    plan = factories.plan()
    private = Job.objects.create(plan=plan, user=owner, org_id=owner.org_id)
    public = Job.objects.create(plan=plan, user=owner, org_id=owner.org_id, is_public=True,
                                status=Status.COMPLETE)
    assert answers(web, people, "job", private.hashid) == {
        "owner": True, "other": False, "staff": True, "anonymous": False}
    assert answers(web, people, "job", public.hashid) == {
        "owner": True, "other": True, "staff": True, "anonymous": True}
    with open_socket(web) as socket:
        assert subscribe(socket, "job", public.hashid) == ok("job", public.hashid)


def test_job_of_a_scratch_org_for_the_session_holding_it(web, people):
    plan = factories.plan()
    org = scratch_org(plan)
    job = Job.objects.create(plan=plan, user=None, org_id=org.org_id)
    holder = session_cookie(scratch_org=org)
    assert answers(web, people, "job", job.hashid)["anonymous"] is False
    with open_socket(web, holder) as socket:
        assert subscribe(socket, "job", job.hashid) == ok("job", job.hashid)
    with open_socket(web) as socket:  # the uuid named in the subscription itself
        assert subscribe(socket, "job", job.hashid, uuid=str(org.uuid)) == ok("job", job.hashid)
        assert subscribe(socket, "job", job.hashid, uuid=str(uuid.uuid4())) == INVALID


def test_preflight_owner_staff_or_scratch_session(web, people):
    owner = people["users"]["owner"]
    plan = factories.plan()
    preflight = PreflightResult.objects.create(plan=plan, user=owner, org_id=owner.org_id)
    assert answers(web, people, "preflightresult", str(preflight.pk)) == {
        "owner": True, "other": False, "staff": True, "anonymous": False}
    with open_socket(web, people["owner"]) as socket:  # a number is the same id
        assert subscribe(socket, "preflightresult", preflight.pk) == ok(
            "preflightresult", str(preflight.pk))
    org = scratch_org(plan)
    scratch_preflight = PreflightResult.objects.create(plan=plan, user=None, org_id=org.org_id)
    with open_socket(web, session_cookie(scratch_org=org)) as socket:
        assert "ok" in subscribe(socket, "preflightresult", str(scratch_preflight.pk))
        assert subscribe(socket, "preflightresult", str(preflight.pk)) == INVALID


def test_org_own_org_only_and_no_staff_bypass(web, people):
    owner = people["users"]["owner"]
    assert answers(web, people, "org", owner.org_id) == {
        "owner": True, "other": False, "staff": False, "anonymous": False}
    with open_socket(web, people["owner"]) as socket:
        assert subscribe(socket, "org", owner.org_id) == ok(
            "org", hashlib.sha1(owner.org_id.encode()).hexdigest())
    org = scratch_org(factories.plan())
    with open_socket(web, session_cookie(scratch_org=org)) as socket:
        assert "ok" in subscribe(socket, "org", org.org_id)
        assert subscribe(socket, "org", owner.org_id) == INVALID


def test_scratch_org_staff_or_the_holder_of_its_uuid(web, people):
    org = scratch_org(factories.plan(), org_id=None)  # still being created
    assert answers(web, people, "scratchorg", org.hashid) == {
        "owner": False, "other": False, "staff": True, "anonymous": False}
    with open_socket(web, session_cookie(scratch_org=org)) as socket:
        assert subscribe(socket, "scratchorg", org.hashid) == ok("scratchorg", org.hashid)
    with open_socket(web) as socket:
        assert subscribe(socket, "scratchorg", org.hashid, uuid=str(uuid.uuid4())) == INVALID
        assert "ok" in subscribe(socket, "scratchorg", org.hashid, uuid=str(org.uuid))


def test_a_uuid_in_a_subscription_is_never_written_into_the_session(web):
    plan = factories.plan()
    org, other = scratch_org(plan), scratch_org(plan, org_id="00DSCRATCHLIVE0002")
    cookie = session_cookie(scratch_org=org)
    key = cookie.split("=", 1)[1]
    with open_socket(web, cookie) as socket:
        # A refused one (a planted uuid must not become the session's credential) ...
        assert subscribe(socket, "scratchorg", org.hashid, uuid=str(uuid.uuid4())) == INVALID
        # ... and an accepted one: the socket cannot rotate the session cookie.
        assert "ok" in subscribe(socket, "scratchorg", other.hashid, uuid=str(other.uuid))
    decoded = Session.objects.get(session_key=key).get_decoded()
    assert decoded["scratch_org_id"] == str(org.uuid)


@pytest.mark.parametrize("text", [
    "not json", "[1, 2]", '"job"', "{}", '{"model": "job"}', '{"id": "abc"}',
    '{"model": "nope", "id": "abc"}', '{"model": "job", "id": "abc", "extra": 1}',
    '{"model": "job", "id": "!!!"}', '{"model": "job", "id": ""}', '{"model": "job", "id": null}',
    '{"model": "job", "id": true}', '{"model": "preflightresult", "id": "12a"}',
    '{"model": "scratchorg", "id": "abc", "uuid": "not-a-uuid"}',
    json.dumps({"model": "job", "id": "x" * 5000}),
    # Text PostgreSQL cannot store: refused before any lookup, as over HTTP.
    '{"model": "org", "id": "00D\\u0000"}', '{"model": "org", "id": "00D\\ud800"}',
])
def test_bad_subscriptions_are_refused_and_the_socket_stays_usable(web, text):
    owner = factories.user()
    with open_socket(web, session_cookie(owner)) as socket:
        socket.send(text)
        assert json.loads(socket.recv(timeout=30)) == INVALID
        socket.send(text.encode())  # a binary frame too
        assert json.loads(socket.recv(timeout=30)) == INVALID
        assert "ok" in subscribe(socket, "user", owner.hashid)


def test_missing_objects_are_refused(web):
    staff = session_cookie(factories.user(staff=True))
    job = Job.objects.create(plan=factories.plan(), status=Status.COMPLETE, is_public=True)
    gone = job.hashid
    job.delete()
    with open_socket(web, staff) as socket:
        assert subscribe(socket, "job", gone) == INVALID
        assert subscribe(socket, "preflightresult", "999999999") == INVALID
        assert subscribe(socket, "scratchorg", gone) == INVALID


@pytest.mark.parametrize("origin", [None, "http://evil.example", "null"])
def test_a_foreign_or_missing_origin_is_refused(web, origin):
    with pytest.raises(InvalidStatus) as refused:
        open_socket(web, origin=origin)
    assert refused.value.response.status_code == 403


def test_allowed_origins_and_other_paths(web):
    port = web.rsplit(":", 1)[1]
    with open_socket(web, origin=f"http://localhost:{port}") as socket:
        assert subscribe(socket, "job", "x") == INVALID  # connected, and answers
    with pytest.raises(InvalidStatus):
        open_socket(web, path="/ws/other/")
