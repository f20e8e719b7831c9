"""A run's RunSpec from its row: the org it runs against, the checkout and the steps."""

from __future__ import annotations

import logging

from django.db import transaction

from plandeploy import repos
from plandeploy.accounts import services as accounts
from plandeploy.flowrunner import OrgInput, RunSpec, run_secrets
from plandeploy.hashids import encode
from plandeploy.orgs import salesforce, workspaces
from plandeploy.runs.execution import writer
from plandeploy.runs.execution.loaders import ConnectionRow, RunRow, load_steps
from plandeploy.runs.execution.run_homes import new_run_home
from plandeploy.runs.models import ScratchOrg
from plandeploy.runs.notify import notify

logger = logging.getLogger(__name__)

SIGN_IN_AGAIN = (
    "Salesforce no longer accepts this site's access to your org (the sign-in expired or "
    "was revoked). Please sign in with Salesforce again, then retry."
)
SALESFORCE_UNREACHABLE = (
    "Salesforce could not be reached to renew the access to your org. Please retry later."
)


class RunSetupError(Exception):
    """The run cannot start (no org, no repository, ...); the message is shown to the user."""


class SignInAgain(RunSetupError):
    """Salesforce refused the org's refresh token: the user has to sign in again."""


class SetupTimeout(Exception):
    """The run's time limit passed during its setup (the checkout)."""


def org_tokens(row: RunRow) -> list[str]:
    """The org's stored tokens: never sent to a local org's run, always scrubbed."""
    connection_row = row.connection
    if connection_row is None:
        return []
    return [t for t in (connection_row.access_token, connection_row.refresh_token) if t]


def org_input(row: RunRow) -> OrgInput:
    """The org the run targets: the user's connected org, else the scratch org it runs on."""
    if row.user_id is not None:
        connection_row = row.connection
        if connection_row is None or connection_row.org_id != row.org_id:
            raise RunSetupError(
                "The connection to the org was lost. Please log in again and retry."
            )
        if connection_row.org_type == "local":
            return OrgInput(
                "local", connection_row.org_id,
                workspace=_workspace_here(connection_row.workspace),
                username=connection_row.org_username or None,
                instance_url=connection_row.instance_url or None,
            )
        return OrgInput(
            "salesforce", connection_row.org_id,
            instance_url=connection_row.instance_url or None,
            access_token=_fresh_access_token(row.user_id, connection_row),
            username=connection_row.org_username or None,
        )
    scratch = ScratchOrg.objects.filter(org_id=row.org_id).first() if row.org_id else None
    if scratch is None:
        # A persistent-org run whose user was deleted, or a scratch org that is gone: the
        # run must still end (failed, with this reason) rather than stay `started`.
        raise RunSetupError("The org for this run no longer exists.")
    config = scratch.config or {}
    if config.get("workspace"):
        return OrgInput("local", scratch.org_id, workspace=_workspace_here(config["workspace"]),
                        username=config.get("username"))
    return OrgInput(
        "salesforce", scratch.org_id, instance_url=config.get("instance_url"),
        access_token=scratch_access_token(scratch), username=config.get("username"),
    )


def scratch_access_token(scratch: ScratchOrg) -> str | None:
    """A Dev Hub scratch org's access token, renewed with its refresh token when it has one."""
    instance_url = (scratch.config or {}).get("instance_url")
    if not (scratch.refresh_token and instance_url):
        return scratch.access_token
    try:
        return salesforce.refresh_access_token(instance_url, scratch.refresh_token)
    except salesforce.TokenRefused as exc:
        raise RunSetupError("The scratch org no longer accepts this site's access.") from exc
    except Exception as exc:
        logger.warning("Scratch org token refresh failed: %s", type(exc).__name__)
        raise RunSetupError(SALESFORCE_UNREACHABLE) from exc


def _fresh_access_token(user_id: int, connection_row: ConnectionRow) -> str:
    """A new access token for the user's Salesforce org, through the connected app.

    The stored access token may be hours old; every run renews it first. A refused refresh
    marks the connection invalid (no tokens: the user must sign in again), announces
    USER_TOKEN_INVALID and raises SignInAgain.
    """
    if not (connection_row.refresh_token and connection_row.instance_url):
        raise SignInAgain(SIGN_IN_AGAIN)
    try:
        token = salesforce.refresh_access_token(
            connection_row.instance_url, connection_row.refresh_token
        )
    except salesforce.TokenRefused as exc:
        with transaction.atomic():
            accounts.invalidate_connection(user_id, connection_row.org_id)
            notify("USER_TOKEN_INVALID", "user", encode(user_id))
        raise SignInAgain(SIGN_IN_AGAIN) from exc
    except Exception as exc:
        # The type only: the text of a connection error names the org's instance.
        logger.warning("Token refresh failed: %s", type(exc).__name__)
        raise RunSetupError(SALESFORCE_UNREACHABLE) from exc
    accounts.store_access_token(user_id, connection_row.org_id, token)
    return token


def _workspace_here(recorded: str) -> str:
    """The recorded workspace on this worker host (rows store it relative to LOCAL_ORGS_ROOT)."""
    path = workspaces.resolve(recorded)
    if path is None:
        raise RunSetupError("The org's workspace is not valid.")
    return str(path)


def build_spec(row: RunRow, *, kind: str, public_id: str, job_pk: int | None,
               secrets: list[str], deadline: float | None = None) -> RunSpec:
    """The RunSpec; `secrets` is filled in first, so that a setup error is scrubbed too.

    The checkout stops at `deadline` (time.monotonic()): SetupTimeout."""
    org = org_input(row)
    tokens = org_tokens(row)
    secrets[:] = run_secrets(org, tokens)
    try:
        repo_dir = repos.checkout_product(row.repo_url, row.commit_ish, deadline)
    except repos.CheckoutTimeout as exc:
        raise SetupTimeout(str(exc)) from exc
    except repos.CheckoutError as exc:
        raise RunSetupError(str(exc)) from exc
    steps = load_steps(row.plan_id, job_pk)
    home = new_run_home(public_id)
    return RunSpec(
        kind=kind,  # type: ignore[arg-type]
        repo_dir=str(repo_dir),
        steps=steps,
        org=org,
        home_dir=home,
        plan_checks=list(row.preflight_checks or []),
        secrets=tokens,
        log_flush_seconds=writer.LOG_WRITE_SECONDS,
        name=row.plan_name or "plandeploy",
    )
