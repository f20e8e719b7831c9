"""A corpus of real-shaped log lines, step messages and exceptions: nothing sensitive survives.

Each text goes the way it goes in a run: log lines through the run process's outbox (the
only way logs leave it), messages and exceptions through the same scrubber with the run's
secrets (the org's tokens and username).
"""

from __future__ import annotations

from multiprocessing import Pipe

import pytest

from plandeploy.flowrunner.outbox import Outbox
from plandeploy.flowrunner.types import StepLog
from plandeploy.scrub import scrub

ORG_ID_18 = "00D5g000004XYZaEAO"
ORG_ID_15 = ORG_ID_18[:15]
USER_ID = "0055g00000A1b2CAAR"
ACCESS_TOKEN = ORG_ID_15 + "!AQ0AQGzj8k3mXq.TqLmT0pS1bG6yZy9rC5dVhWnQeXkIuYtRe"
REFRESH_TOKEN = "5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJrs4vdfiP5yVhkdf9oFvjNa4UTO"
USERNAME = "dana.admin@acme-corp.demo"
LOCAL_USER = "dana_admin_prod"
INSTANCE = "https://acme-corp--uat.sandbox.my.salesforce.com"
RUN_SECRETS = [ACCESS_TOKEN, REFRESH_TOKEN, USERNAME, LOCAL_USER, ORG_ID_18]

LOG_LINES = [
    f"Org info updated, writing to keychain: {ORG_ID_18} ({USERNAME})",
    f"Using session {ACCESS_TOKEN} against {INSTANCE}/services/data/v60.0",
    f"GET {INSTANCE}/services/data/v60.0/sobjects/User/{USER_ID} -> 200",
    f"Authorization: Bearer {ACCESS_TOKEN}",
    f"refresh_token={REFRESH_TOKEN}&grant_type=refresh_token",
    f"Created record 0015g00000XyZ12 (Account) owned by {USER_ID[:15]}",
    f"Deploying as {LOCAL_USER} to org {ORG_ID_15}",
    "Pending deploy 0Af5g00000AbCdE for support@acme-corp.demo",
]
MESSAGES = [
    f"Package install failed in {ORG_ID_18}: user {USERNAME} lacks Customize Application",
    f"INVALID_SESSION_ID: {ACCESS_TOKEN} expired; instance {INSTANCE}",
]
EXCEPTIONS = [
    "Traceback (most recent call last):\n  File \"tasks/deploy.py\", line 3, in _run_task\n"
    f"simple_salesforce.exceptions.SalesforceExpiredSession: Expired session for {INSTANCE}"
    f"/services/data/v60.0/query/?q=SELECT+Id+FROM+User+WHERE+Username='{USERNAME}'. "
    f"Response content: [{{'message': 'Session expired', 'errorCode': 'INVALID_SESSION_ID'}}] "
    f"token {REFRESH_TOKEN}",
    f"Organization Name: Acme Corporation Pty\nOrganization ID: {ORG_ID_15}",
]
SENSITIVE = [
    ORG_ID_18, ORG_ID_15, USER_ID, USER_ID[:15], ACCESS_TOKEN, REFRESH_TOKEN, USERNAME,
    LOCAL_USER, "acme-corp--uat", "support@acme-corp.demo", "0015g00000XyZ12",
    "0Af5g00000AbCdE", "AQ0AQGzj8k3", "Acme Corporation Pty",
]
# Ordinary text that must come through untouched.
KEPT = ["Org info updated", "Deploying as", "Package install failed", "Customize Application",
        "SalesforceExpiredSession", "INVALID_SESSION_ID", "/services/data/v60.0", "(Account)"]


def through_the_outbox(lines: list[str]) -> str:
    receiving, sending = Pipe(duplex=False)
    outbox = Outbox(sending, RUN_SECRETS, flush_seconds=60)
    outbox.current_step = "step-1"
    for line in lines:
        outbox.log(line)
    outbox.close()
    texts = []
    while receiving.poll():
        event = receiving.recv()
        assert isinstance(event, StepLog)
        texts.append(event.text)
    return "\n".join(texts)


def scrubbed_corpus() -> str:
    logs = through_the_outbox(LOG_LINES)
    assert logs.count("\n") == len(LOG_LINES) - 1  # every line arrived
    return "\n".join([logs, *(scrub(text, RUN_SECRETS) for text in MESSAGES + EXCEPTIONS)])


@pytest.mark.parametrize("sensitive", SENSITIVE)
def test_nothing_sensitive_survives(sensitive):
    assert sensitive.lower() not in scrubbed_corpus().lower()


@pytest.mark.parametrize("kept", KEPT)
def test_ordinary_text_survives(kept):
    assert kept in scrubbed_corpus()


def test_ids_and_emails_are_found_without_being_named_as_secrets():
    """A stranger's org id or e-mail in a log is scrubbed too, not only the run's own."""
    text = scrub("org 00D1F0000009GpnUAE user 0051F000000Abc1 mail ops@example.org "
                 "session 00D1F0000009Gpn!ARkAQxyz.123 url https://x1.my.salesforce.com/a")
    for sensitive in ("00D1F0000009Gpn", "0051F000000Abc1", "ops@example.org", "ARkAQxyz",
                      "x1.my.salesforce"):
        assert sensitive not in text
