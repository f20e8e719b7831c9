"""Secret scrubbing for logs, step messages and exceptions before they are stored or shown."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

REDACTED = "<redacted>"
REDACTED_ID = "<redacted-id>"
REDACTED_TOKEN = "<redacted-token>"
REDACTED_EMAIL = "<redacted-email>"
REDACTED_HOST = "<redacted-instance>"

# Key prefixes of Salesforce record ids that identify customers, their users or their data.
# Deliberately small: a long list (the reference system has ~650, with duplicates and "Use")
# only adds false positives on ordinary words.
SALESFORCE_ID_PREFIXES: frozenset[str] = frozenset(
    {
        "001",  # Account
        "003",  # Contact
        "005",  # User
        "006",  # Opportunity
        "00D",  # Organization
        "00E",  # UserRole
        "00G",  # Group
        "00Q",  # Lead
        "00e",  # Profile
        "0Ah",  # ActiveScratchOrg
        "2SR",  # ScratchOrgInfo
        "033",  # MetadataPackage
        "04t",  # MetadataPackageVersion (install key target)
        "0Af",  # DeployRequest
        "0PS",  # PermissionSet
        "500",  # Case
        "701",  # Campaign
        "707",  # AsyncApexJob
        "750",  # Bulk job
        "751",  # Bulk batch
        "800",  # Contract
        "801",  # Order
    }
)

_ALNUM = "A-Za-z0-9"
# Ids count only when they stand alone: a run of letters/digits that merely contains an
# id-shaped substring ("xx00D1F0000009Gpn", "UserInformation") is an ordinary word. Any other
# character (space, punctuation, underscore, quote) is a boundary.
_ID_RE = re.compile(
    rf"(?<![{_ALNUM}])({'|'.join(sorted(map(re.escape, SALESFORCE_ID_PREFIXES)))})"
    rf"([{_ALNUM}]{{12}}(?:[{_ALNUM}]{{3}})?)(?![{_ALNUM}])"
)
# Session ids / access tokens: "<15 or 18 char org id>!<opaque>".
_SESSION_RE = re.compile(rf"(?<![{_ALNUM}])00D[{_ALNUM}]{{12}}(?:[{_ALNUM}]{{3}})?![^\s\"'<>,;]+")
_BEARER_RE = re.compile(r"(?i)\b(Bearer)\s+[A-Za-z0-9._~+/=!-]+")
_INSTANCE_RE = re.compile(
    r"(?i)\b(https?://)"
    r"(?!(?:login|test)\.salesforce\.com\b)"
    r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\."
    r"(?:salesforce\.com|force\.com|cloudforce\.com|visualforce\.com|salesforce-sites\.com"
    r"|site\.com|lightning\.com)\b"
)
_EMAIL_RE = re.compile(r"(?i)(?<![a-z0-9._%+-])[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_LIMITS_RE = re.compile(r"\(Required: \d+, Available: \d+\)")
_ERROR_ID_RE = re.compile(
    r"(ErrorId if you contact support:\s*)-?\d+-\d+(?:\s*\(-?\d+\))?", re.IGNORECASE
)
_ORG_NAME_RE = re.compile(r"(Organization Name:)[^\r\n]*")

# Short strings would match inside ordinary words; they are never secrets worth the damage.
_MIN_SECRET_LENGTH = 4


@lru_cache(maxsize=64)
def _secrets_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    # Runs batch many log lines against the same secrets: compile once per set.
    expanded = _expand_secrets(secrets)
    if not expanded:
        return None
    return re.compile("|".join(re.escape(s) for s in expanded), re.IGNORECASE)


def _expand_secrets(secrets: Iterable[str | None]) -> list[str]:
    found: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        secret = str(secret).strip()
        if len(secret) < _MIN_SECRET_LENGTH:
            continue
        found.add(secret)
        # An 18-char Salesforce id is the 15-char id plus a checksum; logs use both forms.
        if len(secret) == 18 and secret.isalnum() and secret[:3] in SALESFORCE_ID_PREFIXES:
            found.add(secret[:15])
    # Longest first so that a secret containing another is replaced whole.
    return sorted(found, key=len, reverse=True)


def _scrub_id(match: re.Match[str]) -> str:
    prefix, body = match.group(1), match.group(2)
    # Real ids carry a zero-padded counter: requiring a digit keeps words like
    # "500MillionUsers" intact.
    if not any(c.isdigit() for c in body):
        return match.group(0)
    return prefix + REDACTED_ID


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return `text` with the given secrets and anything that looks like customer data removed."""
    if not text:
        return text
    pattern = _secrets_pattern(tuple(str(s) for s in secrets if s))
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _SESSION_RE.sub(REDACTED_TOKEN, text)
    text = _BEARER_RE.sub(rf"\1 {REDACTED_TOKEN}", text)
    text = _INSTANCE_RE.sub(rf"\1{REDACTED_HOST}", text)
    text = _EMAIL_RE.sub(REDACTED_EMAIL, text)
    text = _ID_RE.sub(_scrub_id, text)
    text = _LIMITS_RE.sub("(Required: <N>, Available: <M>)", text)
    text = _ERROR_ID_RE.sub(r"\1<ERROR_ID>", text)
    text = _ORG_NAME_RE.sub(r"\1 <ORG_NAME>", text)
    return text
