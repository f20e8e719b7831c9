"""The kinds of caller of the matrix, and the rows they meet.

anonymous       no session, no token
scratch         an anonymous session holding a complete scratch org of the matrix's plan
scratch_other   an anonymous session holding a complete scratch org of another plan
user            signed in, the owner of the plan's job and preflight
other_user      signed in, owns nothing here
staff           staff, not a superuser
superuser       a superuser
expired         a superuser's API token past API_TOKEN_EXPIRE_AFTER_DAYS (pages and sockets
                take no token: there it is a visitor with no session)

The API is called with API tokens (as its clients do) and scratch sessions; the pages and
the websocket with session cookies, as a browser would.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from plandeploy.accounts.models import User
from plandeploy.catalog.models import Plan
from plandeploy.catalog.tests import factories
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status

IDENTITIES = ("anonymous", "scratch", "scratch_other", "user", "other_user", "staff",
              "superuser", "expired")
SCRATCH = ("scratch", "scratch_other")


def scratch_org_id() -> str:
    return "00DSC" + secrets.token_hex(7).upper()[:13]


@dataclass
class World:
    """The rows a caller meets: a plan with a job and a preflight of `owner`, a scratch org
    of that plan and one of another plan, each with a job and a preflight of its own."""

    plan: Plan
    other_plan: Plan
    owner: User
    job: Job
    public_job: Job
    preflight: PreflightResult
    scratch_org: ScratchOrg
    other_scratch_org: ScratchOrg
    scratch_job: Job
    scratch_preflight: PreflightResult
    users: dict[str, User] = field(default_factory=dict)

    def user_for(self, identity: str) -> User | None:
        """The caller's user (made on first use), or None for those without one."""
        if identity in ("anonymous", *SCRATCH):
            return None
        if identity not in self.users:
            self.users[identity] = {
                "user": lambda: self.owner,
                "other_user": factories.user,
                "staff": lambda: factories.user(staff=True),
                "superuser": lambda: factories.user(superuser=True),
                "expired": lambda: factories.user(superuser=True),
            }[identity]()
        return self.users[identity]

    def held_scratch_org(self, identity: str) -> ScratchOrg | None:
        return {"scratch": self.scratch_org, "scratch_other": self.other_scratch_org}.get(
            identity)


def make_world(**plan_fields) -> World:
    plan = factories.plan(steps=1, **({"supported_orgs": "Both"} | plan_fields))
    other_plan = factories.plan(steps=1, supported_orgs="Both")
    owner = factories.user()
    scratch = ScratchOrg.objects.create(plan=plan, status=Status.COMPLETE,
                                        org_id=scratch_org_id())
    other = ScratchOrg.objects.create(plan=other_plan, status=Status.COMPLETE,
                                      org_id=scratch_org_id())
    return World(
        plan=plan, other_plan=other_plan, owner=owner,
        job=Job.objects.create(plan=plan, user=owner, org_id=owner.org_id),
        public_job=Job.objects.create(plan=plan, user=owner, org_id=owner.org_id,
                                      is_public=True, status=Status.COMPLETE),
        preflight=PreflightResult.objects.create(plan=plan, user=owner, org_id=owner.org_id,
                                                 status=Status.COMPLETE),
        scratch_org=scratch, other_scratch_org=other,
        scratch_job=Job.objects.create(plan=plan, org_id=scratch.org_id,
                                       status=Status.COMPLETE),
        scratch_preflight=PreflightResult.objects.create(plan=plan, org_id=scratch.org_id,
                                                         status=Status.COMPLETE),
    )


def _hold(client: Client, scratch_org: ScratchOrg) -> None:
    """Put the org's uuid in the client's session, as the creating POST would."""
    session = client.session
    session["scratch_org_id"] = str(scratch_org.uuid)
    session.save()


def _expire(user: User) -> None:
    Token.objects.filter(user=user).update(created=timezone.now() - timedelta(days=365))


def api_client(identity: str, world: World) -> APIClient:
    """A client of the APIs: an API token for a user, a session for a scratch org."""
    client = APIClient()
    held = world.held_scratch_org(identity)
    if held is not None:
        _hold(client, held)
    user = world.user_for(identity)
    if user is not None:
        key = factories.api_token(user)
        if identity == "expired":
            _expire(user)
        client.credentials(HTTP_AUTHORIZATION=f"token {key}")
    return client


def page_client(identity: str, world: World, *, enforce_csrf: bool = False) -> Client:
    """A browser: signed in with a session, or holding a scratch org in its session."""
    client = Client(enforce_csrf_checks=enforce_csrf)
    held = world.held_scratch_org(identity)
    if held is not None:
        _hold(client, held)
    user = world.user_for(identity)
    if identity == "expired":
        key = factories.api_token(user)
        _expire(user)
        client.defaults["HTTP_AUTHORIZATION"] = f"token {key}"  # pages ignore tokens
    elif user is not None:
        client.force_login(user)
    return client


def session_cookie(identity: str, world: World) -> str | None:
    """The Cookie header of `page_client`'s session, for a websocket."""
    client = page_client(identity, world)
    if identity == "expired" or identity == "anonymous":
        return None
    return f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}"
