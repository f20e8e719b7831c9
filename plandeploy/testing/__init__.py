"""Test harness: the embedded PostgreSQL per test session, real workers and web servers."""

import os

RATE_LIMIT_SETTINGS = ("RATE_LIMIT_JOB", "RATE_LIMIT_PREFLIGHT", "RATE_LIMIT_SCRATCH_ORG",
                       "RATE_LIMIT_SIGN_IN", "RATE_LIMIT_ORG_CONNECT")


def lift_rate_limits() -> None:
    """Raise the public write limits for this process and the servers it starts.

    Every test client, test server and benchmark client speaks from 127.0.0.1, so the
    production limits (counted per client address) would trip across unrelated tests and
    throttle a load generator; the tests of the limits set their own.
    """
    for name in RATE_LIMIT_SETTINGS:
        os.environ.setdefault(name, "100000/h")
