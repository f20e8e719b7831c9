"""Test harness: the embedded PostgreSQL per test session, real workers and web servers."""
