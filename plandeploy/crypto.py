"""Encryption at rest for org tokens (Fernet, key from DB_ENCRYPTION_KEY)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models


@lru_cache(maxsize=1)
def _fernet() -> Fernet:
    return Fernet(settings.DB_ENCRYPTION_KEY.encode())


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str | None:
    """The plaintext, or None when the value was encrypted under another key."""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        return None


class EncryptedTextField(models.TextField):
    """A text column stored Fernet-encrypted; a database dump leaks no usable value."""

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return decrypt(value)

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt(str(value))
