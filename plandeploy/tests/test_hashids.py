"""The bulk public-id encoder gives exactly what the one-at-a-time encoder gives."""

from plandeploy import hashids


def test_bulk_public_ids_equal_hashids_encode():
    pks = [*range(0, 5000), *range(10**6, 10**6 + 5000), 2**40, 2**62]
    assert hashids.encode_many(pks) == [hashids.encode(pk) for pk in pks]
