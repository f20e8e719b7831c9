"""Benchmark of public ids in bulk: hashids.encode_many against hashids.encode per id.

  .venv/bin/python benchmarks/hashids.py [--count 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plandeploy.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()

    import django

    django.setup()
    from plandeploy import hashids

    pks = list(range(1, args.count + 1))
    started = time.perf_counter()
    one_by_one = [hashids.encode(pk) for pk in pks]
    per_id = time.perf_counter() - started
    started = time.perf_counter()
    bulk = hashids.encode_many(pks)
    in_bulk = time.perf_counter() - started
    if bulk != one_by_one:
        raise SystemExit("encode_many differs from encode")
    print(f"{args.count} ids: encode one by one {per_id * 1000:.0f} ms, "
          f"encode_many {in_bulk * 1000:.0f} ms ({per_id / in_bulk:.1f}x)")


if __name__ == "__main__":
    main()
