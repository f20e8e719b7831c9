"""Benchmark of the maintenance jobs at a million rows, against a per-row implementation.

Fills a dedicated database (default `plandeploy_bench` on the embedded PostgreSQL of
PLANDEPLOY_HOME, or on the server of DATABASE_URL) with generate_series SQL at --scale
(1.0 = 1,000,000 users (5 % staff) each with an org token, 2,000,000 jobs, 2,000,000
preflights, 100,000 API tokens, 10,000 plans), then prints medians of --repeat runs for:

  steady state   nothing due: each of the three jobs;
  backlog        100,000 org tokens, 100,000 idle users and 100,000 preflights due at once
                 (x scale), each sub-step timed, fresh rows made due for every repetition;
  per-row        the same rules done the naive way (loop over the rows, one save and one
                 notification per row; Django's collector for users),
                 on a backlog of --per-row-fraction of that size, beside the set-based jobs
                 on an equal backlog, as a ratio.

Every run is given the fill's `now`, so rows stay "not due" however long the run takes.

  PLANDEPLOY_HOME=/tmp/pd-bench .venv/bin/python benchmarks/maintenance.py --scale 0.01
  PLANDEPLOY_HOME=/tmp/pd-bench .venv/bin/python benchmarks/maintenance.py   # full, minutes
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plandeploy.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

FULL = {"users": 1_000_000, "jobs": 2_000_000, "preflights": 2_000_000,
        "api_tokens": 100_000, "plans": 10_000, "backlog": 100_000}
TARGETS_MS = {"cleanup_user_data": 100, "expire_preflight_results": 20,
              "calculate_average_plan_runtimes": 3000, "org tokens": 3000}


# ---------------------------------------------------------------------------------------
# Database


def prepare_database(name: str) -> None:
    """Create the bench database on the server of DATABASE_URL, else on the embedded one."""
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if url:
        admin_url = url
    else:
        from plandeploy import embedded_db

        os.environ.setdefault("PLANDEPLOY_HOME", str(Path(".plandeploy").resolve()))
        database = embedded_db.for_home(os.environ["PLANDEPLOY_HOME"])
        if database.start():
            import atexit

            atexit.register(database.stop)
        admin_url = database.url("postgres")
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def setup_django(name: str) -> None:
    import django
    from django.conf import settings

    django.setup()
    # Before any connection exists: every query of this process goes to the bench database.
    settings.DATABASES["default"]["NAME"] = name
    from django.core.management import call_command
    from django.db import connection

    assert connection.settings_dict["NAME"] == name
    call_command("migrate", verbosity=0)


def sql(statement: str, params: list | dict | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def insert_series(model, first: int, last: int, exprs: dict[str, str],
                  params: dict | None = None) -> None:
    """INSERT ... SELECT over generate_series(first, last) AS i; columns not given get their
    model default (so new NOT NULL columns of other apps do not break the benchmark)."""
    from django.db import connection, models

    columns, values, values_params = [], [], {}
    for field in model._meta.concrete_fields:
        if field.column in exprs:
            columns.append(field.column)
            values.append(exprs[field.column])
        elif isinstance(field, models.AutoField) or field.null:
            continue
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            columns.append(field.column)
            values.append("%(now)s")
        elif field.get_default() is not None:  # a declared default, or "" for text
            key = f"default_{field.column}"
            columns.append(field.column)
            values.append(f"%({key})s")
            values_params[key] = field.get_db_prep_save(field.get_default(), connection)
        else:
            raise RuntimeError(f"{model.__name__}.{field.name} needs a value in the benchmark")
    sql(
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        # Typed: a parameter bound by the server is a smallint when it fits one.
        f"SELECT {', '.join(values)}"
        " FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i",
        {**values_params, **(params or {}), "first": first, "last": last},
    )


def fill(sizes: dict[str, int], now: datetime) -> None:
    from cryptography.fernet import Fernet
    from django.conf import settings
    from rest_framework.authtoken.models import Token

    from plandeploy.accounts.models import OrgConnection, User
    from plandeploy.catalog.models import Plan, PlanTemplate, Product, ProductCategory, Version
    from plandeploy.runs.models import Job, PreflightResult

    sql("TRUNCATE accounts_user, runs_job, runs_preflightresult, catalog_productcategory, "
        "catalog_product, catalog_version, catalog_plantemplate, catalog_plan, "
        "procrastinate_jobs RESTART IDENTITY CASCADE")
    ciphertext = Fernet(settings.DB_ENCRYPTION_KEY.encode()).encrypt(b"x" * 40).decode()
    users, plans = sizes["users"], sizes["plans"]
    common = {
        "now": now, "users": users, "plans": plans, "secret": ciphertext,
        # Within each lifetime, so nothing is due.
        "token_secs": (settings.TOKEN_LIFETIME_MINUTES - 1) * 60,
        "api_token_secs": (settings.API_TOKEN_EXPIRE_AFTER_DAYS - 1) * 86400,
    }

    insert_series(User, 1, users, {
        "id": "i", "username": "'user' || i", "password": "''",
        "is_staff": "mod(i, 20) = 0", "is_superuser": "false", "is_active": "true",
        # Signed in within the last 28 days: nobody is idle (the limit is 30).
        "last_login": "%(now)s - make_interval(secs => mod(i, 28 * 86400))",
        "date_joined": "%(now)s - interval '400 days'",
    }, common)
    insert_series(OrgConnection, 1, users, {
        "user_id": "i", "org_type": "'salesforce'", "org_id": "'00D' || lpad(i::text, 15, '0')",
        "org_name": "'Org ' || i", "organization_type": "'Developer Edition'",
        "full_org_type": "'Developer'", "instance_url": "'https://org' || i || '.example'",
        "org_username": "'admin@org' || i", "access_token": "%(secret)s",
        "refresh_token": "%(secret)s",
        # Obtained within the token lifetime: nothing due.
        "token_created_at": "%(now)s - make_interval(secs => mod(i, %(token_secs)s))",
    }, common)
    stride = max(1, users // max(1, sizes["api_tokens"]))
    insert_series(Token, 1, sizes["api_tokens"], {
        "key": "md5(i::text) || substr(md5((-i)::text), 1, 8)", "user_id": f"i * {stride}",
        "created": "%(now)s - make_interval(secs => mod(i, %(api_token_secs)s))",
    }, common)

    category = ProductCategory.objects.create(title="Bench")
    product = Product.objects.create(category=category, title="Bench", repo_url="/bench")
    version = Version.objects.create(product=product, label="1.0")
    template = PlanTemplate.objects.create(product=product, name="bench")
    insert_series(Plan, 1, plans, {
        "id": "i", "plan_template_id": str(template.pk), "version_id": str(version.pk),
    }, common)

    # Runs spread over 180 days, newest first; a few started (recently, not dead); those
    # older than the retention already have no exception or log (steady state).
    retention = settings.EXCEPTION_RETENTION_DAYS * 86400
    for model, count in ((Job, sizes["jobs"]), (PreflightResult, sizes["preflights"])):
        spacing = 180 * 86400 / count
        age = f"make_interval(secs => i * {spacing})"
        started = "mod(i, 20000) = 1"
        exprs = {
            "plan_id": "1 + mod(i, %(plans)s)", "user_id": "1 + mod(i, %(users)s)",
            "org_id": f"CASE WHEN {started} THEN '00S' || lpad(i::text, 15, '0') "
                      "ELSE '00D' || lpad((1 + mod(i, %(users)s))::text, 15, '0') END",
            "status": f"CASE WHEN {started} THEN 'started' WHEN mod(i, 10) = 0 THEN 'failed' "
                      "ELSE 'complete' END",
            "created_at": f"CASE WHEN {started} THEN %(now)s - interval '5 minutes' "
                          f"ELSE %(now)s - {age} END",
            "edited_at": "%(now)s",
            "started_at": f"CASE WHEN {started} THEN %(now)s - interval '4 minutes' "
                          f"ELSE %(now)s - {age} + interval '6 seconds' END",
            "exception": f"CASE WHEN mod(i, 10) = 0 AND i * {spacing} < {retention} "
                         "THEN 'Field Acme__c does not exist' END",
            "log": f"CASE WHEN i * {spacing} < {retention} THEN 'scrubbed log' ELSE '' END",
            "results": "'{}'::jsonb",
        }
        if model is Job:
            exprs.update({
                "enqueued_at": f"CASE WHEN {started} THEN %(now)s - interval '4 minutes' "
                               f"ELSE %(now)s - {age} + interval '5 seconds' END",
                "success_at": f"CASE WHEN NOT ({started}) AND mod(i, 10) <> 0 THEN %(now)s - {age} "
                              "+ make_interval(secs => 65 + mod(i::bigint * 7919, 600)) END",
            })
        else:
            # Only the newest preflights (within the lifetime) are still valid.
            lifetime = settings.PREFLIGHT_LIFETIME_MINUTES * 60
            exprs["is_valid"] = f"i * {spacing} < {lifetime - 60}"
            exprs["status"] = exprs["status"].replace(started, "i <= 3")
            for key in ("created_at", "started_at", "org_id"):
                exprs[key] = exprs[key].replace(started, "i <= 3")
            # Not the started jobs' orgs: one run or preflight per org at a time.
            exprs["org_id"] = exprs["org_id"].replace("'00S'", "'00P'")
        insert_series(model, 1, count, exprs, common)

    for table in ("accounts_user", "accounts_orgconnection", "authtoken_token", "catalog_plan",
                  "runs_job", "runs_preflightresult"):
        sql(f"VACUUM ANALYZE {table}")


# ---------------------------------------------------------------------------------------
# Backlogs: rows made due, a fresh slice for every repetition


class Slices:
    """Hands out disjoint ranges of user ids (tokens in the first half, idle users in the
    second), so each repetition works on rows no earlier run has touched."""

    def __init__(self, users: int) -> None:
        self.next = {"tokens": 1, "users": users // 2 + 1}
        self.end = {"tokens": users // 2, "users": users}

    def take(self, kind: str, count: int) -> tuple[int, int]:
        first = self.next[kind]
        last = first + count - 1
        if last > self.end[kind]:
            raise SystemExit(f"not enough users for another {kind} backlog: lower --repeat")
        self.next[kind] = last + 1
        return first, last


def make_tokens_due(first: int, last: int, now: datetime) -> None:
    sql("UPDATE accounts_orgconnection SET token_created_at = %s - interval '1 hour' "
        "WHERE user_id BETWEEN %s AND %s", [now, first, last])


def make_users_idle(first: int, last: int, now: datetime) -> None:
    sql("UPDATE accounts_user SET last_login = %s - interval '400 days' "
        "WHERE id BETWEEN %s AND %s", [now, first, last])


def make_preflights_due(count: int, now: datetime) -> None:
    """Re-validate `count` old finished preflights (they become due at once)."""
    sql("UPDATE runs_preflightresult SET is_valid = true WHERE id IN ("
        " SELECT id FROM runs_preflightresult WHERE NOT is_valid AND status <> 'started'"
        " AND created_at < %s - interval '1 hour' ORDER BY random() LIMIT %s)", [now, count])


def make_users_of(count: int) -> int:
    """Non-staff users among `count` consecutive ids (every 20th is staff)."""
    return count - count // 20


# ---------------------------------------------------------------------------------------
# The naive per-row implementation, for the comparison


def per_row_expire_tokens(now: datetime) -> int:
    from plandeploy.accounts.models import OrgConnection
    from plandeploy.runs.models import Job, PreflightResult
    from plandeploy.runs.notify import notify

    cutoff = now - timedelta(minutes=_settings().TOKEN_LIFETIME_MINUTES)
    since = now - timedelta(days=1)
    done = 0
    for conn in OrgConnection.objects.filter(token_created_at__lte=cutoff).select_related("user"):
        user = conn.user
        if Job.objects.filter(user=user, status="started", created_at__gt=since).exists():
            continue
        if PreflightResult.objects.filter(
                user=user, status="started", created_at__gt=since).exists():
            continue
        if user.is_staff:
            conn.access_token = conn.refresh_token = conn.token_created_at = None
            conn.save()
        else:
            conn.delete()
        notify("USER_TOKEN_INVALID", "user", user.hashid)
        done += 1
    return done


def per_row_delete_users(now: datetime) -> int:
    from plandeploy.accounts.models import User

    cutoff = now - timedelta(days=_settings().USER_RETENTION_DAYS)
    deleted, per_model = User.objects.filter(is_staff=False, last_login__lte=cutoff).delete()
    return per_model.get("accounts.User", 0)


def per_row_expire_preflights(now: datetime) -> int:
    from plandeploy.runs.models import PreflightResult
    from plandeploy.runs.notify import notify

    cutoff = now - timedelta(minutes=_settings().PREFLIGHT_LIFETIME_MINUTES)
    done = 0
    for preflight in PreflightResult.objects.filter(is_valid=True, created_at__lte=cutoff):
        if preflight.status == "started":
            preflight.status = "canceled"
            notify("ORG_CHANGED", "org", preflight.org_id)
            notify("PREFLIGHT_CANCELED", "preflightresult", preflight.pk)
        preflight.is_valid = False
        preflight.save()
        notify("PREFLIGHT_INVALIDATED", "preflightresult", preflight.pk)
        done += 1
    return done


def per_row_averages() -> int:
    from plandeploy.catalog.models import Plan

    settings = _settings()
    changed = 0
    for plan in Plan.objects.all():
        runs = plan.jobs.filter(
            status="complete", success_at__isnull=False, enqueued_at__isnull=False
        ).order_by("-success_at").values_list("success_at", "enqueued_at")[
            : settings.AVERAGE_JOB_WINDOW]
        durations = [(success - enqueued).total_seconds() for success, enqueued in runs]
        value = (round(statistics.median(durations))
                 if len(durations) >= settings.MINIMUM_JOBS_FOR_AVERAGE else None)
        plan.calculated_average_duration = value
        plan.save()
        changed += 1
    return changed


def _settings():
    from django.conf import settings

    return settings


# ---------------------------------------------------------------------------------------
# Measuring


def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return (time.perf_counter() - started) * 1000, result


def median_ms(samples: list[float]) -> str:
    if not samples:
        return "-"
    return f"{statistics.median(samples):9.1f}"


def row(label: str, samples: list[float], note: str = "") -> None:
    spread = f"[{min(samples):.1f} .. {max(samples):.1f}]" if len(samples) > 1 else ""
    print(f"  {label:<44} {median_ms(samples)} ms  {spread:<24} {note}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5, help="runs per steady-state figure")
    parser.add_argument("--backlog-repeat", type=int, default=3)
    parser.add_argument("--per-row-fraction", type=float, default=0.1,
                        help="per-row comparison backlog, as a fraction of the full backlog")
    parser.add_argument("--database", default="plandeploy_bench")
    args = parser.parse_args()

    sizes = {name: max(1, round(count * args.scale)) for name, count in FULL.items()}
    prepare_database(args.database)
    setup_django(args.database)

    from django.utils import timezone

    from plandeploy.maintenance import batches, cleanup, services

    now = timezone.now()
    print(f"maintenance benchmark: scale {args.scale} -> " + ", ".join(
        f"{count:,} {name}" for name, count in sizes.items()), flush=True)
    fill_ms, _ = timed(lambda: fill(sizes, now))
    print(f"  filled in {fill_ms / 1000:.1f} s (database {args.database})", flush=True)

    # Steady state: a first run settles anything left over, then nothing may be due.
    runs = {
        "cleanup_user_data": lambda: services.run_cleanup_user_data(now),
        "expire_preflight_results": lambda: services.run_expire_preflight_results(now),
        "calculate_average_plan_runtimes": services.run_calculate_average_plan_runtimes,
    }
    first_ms, first_counts = timed(runs["calculate_average_plan_runtimes"])
    print(f"\nfirst calculate_average_plan_runtimes (sets {sizes['plans']:,} plans): "
          f"{first_ms:.0f} ms {first_counts}")
    print(f"\nsteady state (nothing due), median of {args.repeat} [min .. max]:")
    for name, action in runs.items():
        action()
        samples = []
        for _ in range(args.repeat):
            ms, counts = timed(action)
            samples.append(ms)
            if any(counts.values()):
                print(f"  ! {name} changed rows in steady state: {counts}")
        row(name, samples, f"target <= {TARGETS_MS[name]} ms")

    # Backlog.
    backlog = sizes["backlog"]
    slices = Slices(sizes["users"])
    print(f"\nbacklog of {backlog:,} org tokens, {backlog:,} idle users and {backlog:,} "
          f"preflights, median of {args.backlog_repeat} [min .. max]:")
    token_ms, user_ms, preflight_ms, total_ms = [], [], [], []
    counts_seen = {}
    for _ in range(args.backlog_repeat):
        make_tokens_due(*slices.take("tokens", backlog), now)
        make_users_idle(*slices.take("users", backlog), now)
        make_preflights_due(backlog, now)
        steps = cleanup.cleanup_steps(now)
        with batches.run_lock("cleanup_user_data"):
            ms_tokens, tokens = timed(steps["org_tokens_expired"])
            ms_users, users = timed(steps["users_deleted"])
        ms_preflights, preflight_counts = timed(lambda: services.run_expire_preflight_results(now))
        token_ms.append(ms_tokens)
        user_ms.append(ms_users)
        preflight_ms.append(ms_preflights)
        counts_seen = {"tokens": tokens, "users": users, **preflight_counts}
        # The whole cleanup run on a fresh backlog of tokens and users together.
        make_tokens_due(*slices.take("tokens", backlog // 2), now)
        make_users_idle(*slices.take("users", backlog // 2), now)
        ms_total, total_counts = timed(lambda: services.run_cleanup_user_data(now))
        total_ms.append(ms_total)
    row(f"org tokens expired ({counts_seen['tokens']:,})", token_ms,
        f"target <= {TARGETS_MS['org tokens']} ms")
    row(f"idle users deleted ({counts_seen['users']:,}, their runs kept)", user_ms)
    row(f"preflights invalidated ({counts_seen['preflights_invalidated']:,})", preflight_ms)
    row(f"whole cleanup_user_data, {backlog // 2:,} tokens + "
        f"{make_users_of(backlog // 2):,} users", total_ms)

    # Per-row implementation, beside the set-based jobs on equal backlogs.
    small = max(1, round(backlog * args.per_row_fraction))
    print(f"\nper-row implementation vs set-based, backlog of {small:,} each "
          f"({args.per_row_fraction:g} of the backlog above):")
    comparisons = [
        ("org tokens", lambda: make_tokens_due(*slices.take("tokens", small), now),
         lambda: per_row_expire_tokens(now),
         cleanup.cleanup_steps(now)["org_tokens_expired"]),
        ("idle users", lambda: make_users_idle(*slices.take("users", small), now),
         lambda: per_row_delete_users(now),
         cleanup.cleanup_steps(now)["users_deleted"]),
        ("preflights", lambda: make_preflights_due(small, now),
         lambda: per_row_expire_preflights(now),
         lambda: services.run_expire_preflight_results(now)),
    ]
    for label, make_due, per_row, set_based in comparisons:
        make_due()
        set_ms, set_result = timed(set_based)
        make_due()
        row_ms, row_result = timed(per_row)
        print(f"  {label:<12} set-based {set_ms:9.1f} ms ({_count(set_result)})   per-row "
              f"{row_ms:9.1f} ms ({_count(row_result)})   ratio {row_ms / set_ms:6.1f}x",
              flush=True)
    services.run_calculate_average_plan_runtimes()
    set_ms, _ = timed(services.run_calculate_average_plan_runtimes)
    row_ms, plans_saved = timed(per_row_averages)
    print(f"  {'averages':<12} set-based {set_ms:9.1f} ms (nothing changed)   per-row "
          f"{row_ms:9.1f} ms ({plans_saved:,} plans saved)   ratio {row_ms / set_ms:6.1f}x "
          f"({sizes['plans']:,} plans, {sizes['jobs']:,} jobs)")
    steady_rows = [
        ("cleanup steady", lambda: services.run_cleanup_user_data(now), lambda: (
            per_row_expire_tokens(now), per_row_delete_users(now))),
        ("expire steady", lambda: services.run_expire_preflight_results(now),
         lambda: per_row_expire_preflights(now)),
    ]
    for label, set_based, per_row in steady_rows:
        set_ms, _ = timed(set_based)
        row_ms, _ = timed(per_row)
        print(f"  {label:<14} set-based {set_ms:7.1f} ms   per-row (tokens, users / "
              f"preflights only) {row_ms:7.1f} ms")


def _count(result: object) -> str:
    if isinstance(result, dict):
        return ", ".join(f"{key} {value:,}" for key, value in result.items() if value)
    return f"{result:,}"


if __name__ == "__main__":
    main()
