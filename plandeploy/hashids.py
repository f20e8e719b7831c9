"""Short public ids (sqids) for integer primary keys, as the reference system shows them."""

from __future__ import annotations

from django.db import models
from sqids import Sqids

# A fixed shuffle: ids stay stable across deployments and key rotations; they are not secrets.
_ALPHABET = "k3G7QAe51FCsPW92uEOyq4Bg6Sp8YzVTmnU0liwDLxMfRZNhbKjcovdtHXrIaJ"
_sqids = Sqids(alphabet=_ALPHABET, min_length=7)


def encode(pk: int) -> str:
    return _sqids.encode([pk])


def decode(public_id: object) -> int | None:
    """The primary key behind a public id, or None when it is not one of ours."""
    if not isinstance(public_id, str) or not public_id or len(public_id) > 32:
        return None
    numbers = _sqids.decode(public_id)
    # Long ids can decode to numbers sqids cannot re-encode (or no bigint can hold).
    if len(numbers) != 1 or not 0 < numbers[0] < 2**63:
        return None
    if encode(numbers[0]) != public_id:
        return None
    return numbers[0]


class HashIdModel(models.Model):
    """A model whose API id is the sqid of its integer primary key."""

    class Meta:
        abstract = True

    @property
    def hashid(self) -> str:
        return encode(self.pk)

    @classmethod
    def pk_from_hashid(cls, public_id: object) -> int | None:
        return decode(public_id)
