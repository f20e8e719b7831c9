"""API tokens: issued once in the clear, stored only as a digest.

A database dump or backup must not hand out working admin credentials (the admin API
publishes code that runs against customers' orgs). The table keeps DRF's shape, but its
`key` column holds the SHA-256 digest of the token (truncated to the column's 40 hex
characters, still 160 bits); the token itself is printed once, when it is issued, and
every request's token is hashed before it is looked up. A token is 160 random bits, so a
plain (unsalted, fast) hash is enough: there is nothing to guess.
"""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from rest_framework.authtoken.models import Token


def digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def issue_token(user, *, replace: bool = True) -> str:
    """A new API token for `user` (replacing an old one); returns it, the only time in clear."""
    raw_key = secrets.token_hex(20)
    with transaction.atomic():
        if replace:
            Token.objects.filter(user=user).delete()
        Token.objects.create(user=user, key=digest(raw_key))
    return raw_key
