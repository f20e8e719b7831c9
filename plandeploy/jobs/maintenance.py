"""The scheduled maintenance jobs: cleanup, preflight expiry and plan average runtimes.

Seed names: cleanup_user_data, expire_preflight_results, calculate_average_plan_runtimes.

Every rule is one set-based statement per batch of at most BATCH_SIZE rows, each batch
in its own transaction, so a large backlog never holds row locks for long and a run's
cost grows with the rows it changes, not with the size of the tables (each predicate has
a partial index: see runs/accounts models and jobs/migrations/0002).

Two runs of one job never overlap: the periodic tasks carry a procrastinate `lock`, and
every run (also `plandeploy manage run_maintenance`) first takes a session advisory lock;
a run that cannot take it does nothing and says so. Other writers (sign-ins, workers, the
enqueuer) are handled row by row by PostgreSQL: candidates are selected `FOR UPDATE SKIP
LOCKED` (a row being changed is left to the next run), or, for the two big sweeps (org
tokens, preflight expiry) where that lock costs a write per row, the change re-checks the
predicate on the row it locks, so a token obtained meanwhile is kept.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from plandeploy import hashids, queue, taskdefs
from plandeploy.accounts.models import OrgConnection
from plandeploy.catalog.models import Plan
from plandeploy.runs.models import INTERRUPTED_MESSAGE, Job, PreflightResult, Status
from plandeploy.runs.notify import notify_many
from plandeploy.runs.status import transition_many

logger = logging.getLogger(__name__)

BATCH_SIZE = 10_000
USER_WEIGHT = 10
# A run that outlived its hard time limit by this much has no live worker behind it.
DEAD_RUN_GRACE = timedelta(seconds=120)
# A token is kept while its user has a run `started` within this window.
RUNNING_WINDOW = timedelta(days=1)
PREFLIGHT_EXPIRED_MESSAGE = "The preflight check expired before it finished. Please run it again."

Counts = dict[str, int]


# ---------------------------------------------------------------------------------------
# The periodic tasks (seed names; schedules from settings.SCHEDULES / CRON_SCHEDULE).


@taskdefs.cleanup_user_data.implement(schedule="cleanup_user_data")
def cleanup_user_data(timestamp: int | None = None) -> Counts | None:
    return run_cleanup_user_data()


@taskdefs.expire_preflight_results.implement(schedule="expire_preflight_results")
def expire_preflight_results(timestamp: int | None = None) -> Counts | None:
    return run_expire_preflight_results()


@taskdefs.calculate_average_plan_runtimes.implement(schedule="calculate_average_plan_runtimes")
def calculate_average_plan_runtimes(timestamp: int | None = None) -> Counts | None:
    return run_calculate_average_plan_runtimes()


# ---------------------------------------------------------------------------------------
# Runs: each takes the run lock, does its sub-steps in batches and logs one line.


def run_cleanup_user_data(
    now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> Counts | None:
    """The five cleanup rules, in the seed's order. Returns rows changed per sub-step."""
    now = now or timezone.now()
    with _run("cleanup_user_data") as counts:
        if counts is None:
            return None
        for label, step in cleanup_steps(now, batch_size).items():
            counts[label] = step()
    return counts


def cleanup_steps(now: datetime, batch_size: int = BATCH_SIZE) -> dict[str, Callable[[], int]]:
    """Each sub-step of cleanup_user_data, run to the end in batches; returns rows changed."""
    # Deleting a user touches about USER_WEIGHT rows (org connection, API token, runs set
    # to NULL) plus a foreign-key check per referencing table at commit.
    users_batch = max(1, batch_size // USER_WEIGHT)
    return {
        "jobs_interrupted": lambda: _batched(
            lambda: len(interrupt_dead_jobs(now, batch_size)), batch_size),
        "preflights_interrupted": lambda: _batched(
            lambda: len(interrupt_dead_preflights(now, batch_size)), batch_size),
        "org_tokens_expired": lambda: _batched(
            lambda: len(expire_org_tokens(now, batch_size)), batch_size),
        "users_deleted": lambda: _batched(
            lambda: delete_idle_users(now, users_batch), users_batch),
        **{
            f"{label}_{column}s_cleared": (
                lambda model=model, column=column: _batched(
                    lambda: clear_old_run_details(model, column, now, batch_size), batch_size)
            )
            for model, label in ((Job, "job"), (PreflightResult, "preflight"))
            for column in ("exception", "log")
        },
        "api_tokens_deleted": lambda: _batched(
            lambda: delete_old_api_tokens(now, batch_size), batch_size),
    }


def run_expire_preflight_results(
    now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> Counts | None:
    now = now or timezone.now()
    with _run("expire_preflight_results") as counts:
        if counts is None:
            return None
        counts["preflights_canceled"] = _batched(
            lambda: len(cancel_expired_running_preflights(now, batch_size)), batch_size
        )
        counts["preflights_invalidated"] = counts["preflights_canceled"] + _batched(
            lambda: len(invalidate_expired_preflights(now, batch_size)), batch_size
        )
    return counts


def run_calculate_average_plan_runtimes() -> Counts | None:
    with _run("calculate_average_plan_runtimes") as counts:
        if counts is None:
            return None
        counts.update(update_average_durations())
    return counts


RUNS: dict[str, Callable[[], Counts | None]] = {
    "cleanup_user_data": run_cleanup_user_data,
    "expire_preflight_results": run_expire_preflight_results,
    "calculate_average_plan_runtimes": run_calculate_average_plan_runtimes,
}


@contextlib.contextmanager
def _run(name: str) -> Iterator[Counts | None]:
    """Hold the job's advisory lock for the run (or yield None if another run holds it)."""
    started = time.perf_counter()
    key = f"plandeploy.maintenance.{name}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        acquired = cursor.fetchone()[0]
    if not acquired:
        logger.info("%s: skipped, another run is in progress", name)
        yield None
        return
    counts: Counts = {}
    try:
        yield counts
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
    elapsed_ms = (time.perf_counter() - started) * 1000
    summary = " ".join(f"{label}={value}" for label, value in counts.items())
    logger.info("%s: %s in %.0f ms", name, summary, elapsed_ms)


def _batched(step: Callable[[], int], batch_size: int) -> int:
    """Run `step` (one batch, one transaction) until a batch changes fewer than batch_size."""
    total = 0
    while True:
        with transaction.atomic():
            changed = step()
        total += changed
        if changed < batch_size:
            return total


# ---------------------------------------------------------------------------------------
# cleanup_user_data 1: runs past their hard time limit end `canceled` (W6 fixed).


def _dead_run_filter(model: type[models.Model], now: datetime) -> Q:
    """Started runs that exceeded their time limit, measured from when they began running.

    A run that began (`started_at` set) and is older than JOB_TIMEOUT + grace has been
    killed by its time limit or lost its worker. A run that never began is measured from
    when it was handed to the queue (`enqueued_at`, or `created_at` for preflights, which
    are queued at creation), but one whose queue row is still waiting (`todo`) is only
    queued behind other work and is left alone (W6a): it will run, or be canceled by
    the user. Runs that never reached the queue belong to the enqueuer.
    """
    cutoff = now - timedelta(seconds=settings.JOB_TIMEOUT) - DEAD_RUN_GRACE
    queued_field = "enqueued_at" if model is Job else "created_at"
    still_waiting = queue.waiting_job_exists("job_id")
    # started_at >= queued time, so the queued-time bound is implied; it lets the
    # partial index on (queued time) WHERE status = 'started' find the candidates.
    return Q(**{f"{queued_field}__lte": cutoff}) & (
        Q(started_at__lte=cutoff) | (Q(started_at__isnull=True) & ~still_waiting)
    )


def interrupt_dead_jobs(now: datetime, limit: int = BATCH_SIZE) -> list[int]:
    return _interrupt(Job, now, limit)


def interrupt_dead_preflights(now: datetime, limit: int = BATCH_SIZE) -> list[int]:
    return _interrupt(PreflightResult, now, limit)


def _interrupt(model: type[models.Model], now: datetime, limit: int) -> list[int]:
    pks = _lock_candidates(
        model.objects.filter(_dead_run_filter(model, now), status=Status.STARTED),
        "enqueued_at" if model is Job else "created_at",
        limit,
    )
    moved = transition_many(model, pks, Status.CANCELED, exception=INTERRUPTED_MESSAGE)
    _abort_queue_jobs(model, moved)
    return moved


def _lock_candidates(queryset: models.QuerySet, order_by: str, limit: int) -> list:
    # Ordered by the indexed column, so the partial index is used even when the planner
    # expects many matches (see clear_old_run_details).
    return list(
        queryset.select_for_update(skip_locked=True, of=("self",))
        .order_by(order_by)
        .values_list("pk", flat=True)[:limit]
    )


def _abort_queue_jobs(model: type[models.Model], pks: list[int]) -> None:
    """Ask the queue to stop whatever still carries these runs (a worker that is alive
    but stuck); the run's own final transition can no longer overwrite `canceled`."""
    if not pks:
        return
    carried = model.objects.filter(pk__in=pks, job_id__isnull=False).values_list(
        "job_id", flat=True
    )
    # Bounded by worker concurrency plus the queue, not by the backlog.
    for job_id in queue.live_job_ids(carried):
        queue.abort(job_id)


# ---------------------------------------------------------------------------------------
# cleanup_user_data 2: org tokens older than TOKEN_LIFETIME_MINUTES.

def expire_org_tokens(now: datetime, limit: int = BATCH_SIZE) -> list[int]:
    """Delete due org tokens (and, for non-staff, the org details) unless a run is going.

    A non-staff user's connection row is the token plus the org details that came with it,
    so it is deleted whole; a staff user's row keeps the org details and loses the tokens.
    A DELETE leaves the table's indexes alone, where an UPDATE of the same rows writes a
    new entry into each of them (most of a large backlog's cost).
    Returns the users whose token was deleted; each gets USER_TOKEN_INVALID.
    """
    table = OrgConnection._meta.db_table
    cutoff = now - timedelta(minutes=settings.TOKEN_LIFETIME_MINUTES)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT c.id,
                   (SELECT u.is_staff FROM {get_user_model()._meta.db_table} AS u
                     WHERE u.id = c.user_id)
              FROM {table} AS c
             WHERE c.token_created_at <= %(cutoff)s
               -- Few users have a run going: NOT IN makes that set one hash probed per
               -- token (a correlated NOT EXISTS was planned as a nested loop).
               AND c.user_id NOT IN (
                   SELECT j.user_id FROM {Job._meta.db_table} AS j
                    WHERE j.status = 'started' AND j.created_at > %(running_since)s
                      AND j.user_id IS NOT NULL
                   UNION ALL
                   SELECT p.user_id FROM {PreflightResult._meta.db_table} AS p
                    WHERE p.status = 'started' AND p.created_at > %(running_since)s
                      AND p.user_id IS NOT NULL)
             ORDER BY c.token_created_at
             LIMIT %(limit)s
            """,
            {"cutoff": cutoff, "running_since": now - RUNNING_WINDOW, "limit": limit},
        )
        due = cursor.fetchall()
        if not due:
            return []
        # The ids go back as literal arrays and each row is reached through the primary
        # key. Joined to the candidate query instead, the statement was planned from stale
        # statistics ("no token is due") as a loop over every due token that re-ran the
        # candidate query each time: minutes for a backlog instead of a second.
        # Each row's age is re-checked as it is when locked (a token obtained meanwhile
        # stays), written so that it cannot be an index condition: the token-age index
        # would have the planner walk the whole backlog, filtering by id.
        cursor.execute(
            f"""
            WITH deleted AS (
                DELETE FROM {table}
                 WHERE id = ANY(%(members)s)
                   AND token_created_at + interval '0 s' <= %(cutoff)s
                RETURNING user_id
            ), cleared AS (
                UPDATE {table}
                   SET access_token = NULL, refresh_token = NULL, token_created_at = NULL
                 WHERE id = ANY(%(staff)s)
                   AND token_created_at + interval '0 s' <= %(cutoff)s
                RETURNING user_id
            )
            SELECT user_id FROM deleted UNION ALL SELECT user_id FROM cleared
            """,
            {
                "members": [pk for pk, is_staff in due if not is_staff],
                "staff": [pk for pk, is_staff in due if is_staff],
                "cutoff": cutoff,
            },
        )
        user_pks = [row[0] for row in cursor.fetchall()]
    notify_many("USER_TOKEN_INVALID", "user", public_ids(user_pks))
    return user_pks


# ---------------------------------------------------------------------------------------
# cleanup_user_data 3: idle non-staff users are deleted; their runs stay, user NULL.


def delete_idle_users(now: datetime, limit: int = BATCH_SIZE // USER_WEIGHT) -> int:
    """Delete non-staff users idle for USER_RETENTION_DAYS, with Django's on_delete rules
    applied in one statement (CASCADE, SET_NULL), without loading a model into Python.

    A user who never signed in (last_login NULL, e.g. created by an admin) is measured
    from date_joined, so such accounts do not live forever (W30).
    """
    user_table = get_user_model()._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id FROM {user_table}
             WHERE id IN (
                   (SELECT id FROM {user_table}
                     WHERE NOT is_staff AND last_login <= %(cutoff)s
                     ORDER BY last_login LIMIT %(limit)s)
                   UNION ALL
                   (SELECT id FROM {user_table}
                     WHERE NOT is_staff AND last_login IS NULL AND date_joined <= %(cutoff)s
                     ORDER BY date_joined LIMIT %(limit)s))
               AND NOT is_superuser
             LIMIT %(limit)s
               FOR UPDATE SKIP LOCKED
            """,
            {"cutoff": now - timedelta(days=settings.USER_RETENTION_DAYS), "limit": limit},
        )
        # The ids as a literal array: the planner sees how few they are and uses the
        # user_id indexes of the referencing tables (a CTE made it scan them whole).
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return 0
        cursor.execute(
            f"{_user_dependants_sql()} DELETE FROM {user_table} WHERE id = ANY(%(ids)s)",
            {"ids": ids},
        )
        return cursor.rowcount


@lru_cache(maxsize=1)
def _user_dependants_sql() -> str:
    """One data-modifying CTE per table that references the user, from the models' on_delete.

    Django's own `delete()` would load every user and cascade in Python. Foreign keys are
    DEFERRABLE INITIALLY DEFERRED, so all parts of the one statement are checked at commit.
    """
    user_model = get_user_model()
    parts = []
    for relation in user_model._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete):
            continue
        if not (relation.one_to_many or relation.one_to_one):
            continue
        field = relation.field
        on_delete = field.remote_field.on_delete
        table = relation.related_model._meta.db_table
        if field.target_field.model is not user_model or not field.target_field.primary_key:
            raise ImproperlyConfigured(f"{table}.{field.column} does not reference the user's pk")
        if on_delete is models.DO_NOTHING:
            continue
        if on_delete is models.CASCADE:
            dependants = [
                r for r in relation.related_model._meta.get_fields(include_hidden=True)
                if r.auto_created and not r.concrete and (r.one_to_many or r.one_to_one)
            ]
            if dependants:
                raise ImproperlyConfigured(
                    f"delete_idle_users cascades one level only; {table} has dependants"
                )
            parts.append(f"DELETE FROM {table} WHERE {field.column} = ANY(%(ids)s)")
        elif on_delete is models.SET_NULL:
            parts.append(
                f"UPDATE {table} SET {field.column} = NULL WHERE {field.column} = ANY(%(ids)s)"
            )
        else:
            raise ImproperlyConfigured(
                f"delete_idle_users does not handle on_delete={on_delete.__name__} ({table})"
            )
    return "WITH " + ",\n".join(f"dependant_{n} AS ({part})" for n, part in enumerate(parts))


# ---------------------------------------------------------------------------------------
# cleanup_user_data 4: exceptions (and logs, W30) of old runs are cleared.


def clear_old_run_details(
    model: type[models.Model], column: str, now: datetime, limit: int = BATCH_SIZE
) -> int:
    """Clear `exception` and the scrubbed `log` of runs created EXCEPTION_RETENTION_DAYS ago,
    selected by `column` ("exception" or "log": each has its partial index).

    Both may hold customer metadata (schema names, usernames); `results` (the per-step
    outcome shown on the run's page) is kept.
    """
    predicate = {"exception": "exception IS NOT NULL", "log": "log <> ''"}[column]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        # ORDER BY the indexed column: without it the planner may bet on a sequential scan
        # finding LIMIT rows early, and read the whole table when none is due.
        cursor.execute(
            f"""
            UPDATE {table} SET exception = NULL, log = ''
             WHERE id IN (SELECT id FROM {table}
                           WHERE {predicate} AND created_at <= %s
                           ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)
            """,
            [now - timedelta(days=settings.EXCEPTION_RETENTION_DAYS), limit],
        )
        return cursor.rowcount


# ---------------------------------------------------------------------------------------
# cleanup_user_data 5: API tokens older than API_TOKEN_EXPIRE_AFTER_DAYS.


def delete_old_api_tokens(now: datetime, limit: int = BATCH_SIZE) -> int:
    from rest_framework.authtoken.models import Token

    table = Token._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            DELETE FROM {table}
             WHERE key IN (SELECT key FROM {table} WHERE created <= %s
                           ORDER BY created LIMIT %s FOR UPDATE SKIP LOCKED)
            """,
            [now - timedelta(days=settings.API_TOKEN_EXPIRE_AFTER_DAYS), limit],
        )
        return cursor.rowcount


# ---------------------------------------------------------------------------------------
# expire_preflight_results


def _preflight_cutoff(now: datetime) -> datetime:
    return now - timedelta(minutes=settings.PREFLIGHT_LIFETIME_MINUTES)


def cancel_expired_running_preflights(now: datetime, limit: int = BATCH_SIZE) -> list[int]:
    """Expired preflights still `started`: canceled and invalid, through the status function."""
    pks = _lock_candidates(
        PreflightResult.objects.filter(
            is_valid=True, created_at__lte=_preflight_cutoff(now), status=Status.STARTED
        ),
        "created_at",
        limit,
    )
    moved = transition_many(
        PreflightResult, pks, Status.CANCELED, is_valid=False, exception=PREFLIGHT_EXPIRED_MESSAGE
    )
    _abort_queue_jobs(PreflightResult, moved)
    notify_many("PREFLIGHT_INVALIDATED", "preflightresult", moved)
    return moved


def invalidate_expired_preflights(now: datetime, limit: int = BATCH_SIZE) -> list[int]:
    """Expired preflights that have finished: invalid (their status stays)."""
    table = PreflightResult._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id FROM {table}
             WHERE is_valid AND created_at <= %s AND status <> 'started'
             ORDER BY created_at LIMIT %s
            """,
            [_preflight_cutoff(now), limit],
        )
        due = [row[0] for row in cursor.fetchall()]
        if not due:
            return []
        # By primary key from a literal array (see expire_org_tokens): the statement's cost
        # is the batch, whatever the statistics say. Re-checked on the row as it is when
        # locked (one the enqueuer has just invalidated is not announced twice), written
        # so that it does not match the partial index on valid preflights, whose size the
        # planner may take from a quieter moment.
        cursor.execute(
            f"""
            UPDATE {table} SET is_valid = false, edited_at = %s
             WHERE id = ANY(%s) AND is_valid IS NOT FALSE AND status <> 'started'
            RETURNING id
            """,
            [now, due],
        )
        pks = [row[0] for row in cursor.fetchall()]
    notify_many("PREFLIGHT_INVALIDATED", "preflightresult", pks)
    return pks


# ---------------------------------------------------------------------------------------
# calculate_average_plan_runtimes


def update_average_durations() -> Counts:
    """Median of (success_at - enqueued_at) over each plan's last AVERAGE_JOB_WINDOW complete
    runs, in whole seconds; NULL below MINIMUM_JOBS_FOR_AVERAGE runs (W22: an old value is
    not kept). Only plans whose value changes are written, and only that column.

    Each plan's window comes from the index (plan, success_at DESC) WHERE status =
    'complete' through a LATERAL ... LIMIT, so the cost is plans x window, not all jobs.
    """
    plan_table = Plan._meta.db_table
    job_table = Job._meta.db_table
    sql = f"""
        WITH medians AS (
            SELECT p.id AS plan_id,
                   CASE WHEN count(w.duration) >= %(minimum)s THEN
                        greatest(0, round(percentile_cont(0.5) WITHIN GROUP
                                          (ORDER BY w.duration)::numeric))::integer
                   END AS value
              FROM {plan_table} AS p
              LEFT JOIN LATERAL (
                   SELECT extract(epoch FROM j.success_at - j.enqueued_at) AS duration
                     FROM {job_table} AS j
                    WHERE j.plan_id = p.id AND j.status = 'complete'
                      AND j.success_at IS NOT NULL AND j.enqueued_at IS NOT NULL
                    ORDER BY j.success_at DESC
                    LIMIT %(window)s
              ) AS w ON true
             GROUP BY p.id
        )
        UPDATE {plan_table} AS p
           SET calculated_average_duration = m.value
          FROM medians AS m
         WHERE p.id = m.plan_id
           AND p.calculated_average_duration IS DISTINCT FROM m.value
        RETURNING m.value IS NULL
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, {
            "minimum": settings.MINIMUM_JOBS_FOR_AVERAGE,
            "window": settings.AVERAGE_JOB_WINDOW,
        })
        cleared = [row[0] for row in cursor.fetchall()]
    return {"plans_updated": cleared.count(False), "plans_cleared": cleared.count(True)}


# ---------------------------------------------------------------------------------------
# Public ids in bulk


def public_ids(pks: list[int]) -> list[str]:
    """`hashids.encode` for many pks, about 10x faster (a token backlog is 100,000 users).

    sqids spends most of its time re-deriving, per call, tables that depend only on
    `pk % len(alphabet)`, and scanning its blocklist word by word. Here those tables are
    built once; an id containing any blocklist word falls back to `hashids.encode`, so
    the result is always exactly `hashids.encode(pk)` (a test compares them).
    """
    fast = _fast_encoder()
    return [fast(pk) for pk in pks]


@lru_cache(maxsize=1)
def _fast_encoder() -> Callable[[int], str]:
    sqids = hashids._sqids
    try:
        alphabet: str = sqids._Sqids__alphabet  # type: ignore[attr-defined]
        min_length: int = sqids._Sqids__min_length  # type: ignore[attr-defined]
        words = frozenset((
            *sqids._Sqids__blocklist_exact_match,  # type: ignore[attr-defined]
            *sqids._Sqids__blocklist_match_at_ends,  # type: ignore[attr-defined]
            *sqids._Sqids__blocklist_match_anywhere,  # type: ignore[attr-defined]
        ))
        shuffle = sqids._Sqids__shuffle  # type: ignore[attr-defined]
    except AttributeError:  # a sqids release with other internals: stay exact, be slow
        return hashids.encode
    if any(len(word) < 3 for word in words):
        return hashids.encode
    # Blocklist words by their first three letters: one set lookup per position.
    by_stem: dict[str, list[str]] = {}
    for word in words:
        by_stem.setdefault(word[:3], []).append(word)
    size = len(alphabet)
    tables = []
    for first in range(size):
        offset = (ord(alphabet[first]) + 1) % size
        rotated = alphabet[offset:] + alphabet[:offset]
        reversed_ = rotated[::-1]
        tables.append((rotated[0], reversed_[1:], reversed_[0] + shuffle(reversed_)))
    base = size - 1

    def encode(pk: int) -> str:
        prefix, digits, padding = tables[pk % size]
        encoded = ""
        number = pk
        while True:
            number, digit = divmod(number, base)
            encoded = digits[digit] + encoded
            if not number:
                break
        public_id = prefix + encoded
        missing = min_length - len(public_id)
        if missing > 0:
            if missing > len(padding):
                return hashids.encode(pk)
            public_id += padding[:missing]
        # Any blocklist word anywhere in the id (a superset of sqids' own rules).
        lowered = public_id.lower()
        for start in range(len(lowered) - 2):
            candidates = by_stem.get(lowered[start:start + 3])
            if candidates and any(lowered.startswith(word, start) for word in candidates):
                return hashids.encode(pk)
        return public_id

    for probe in (0, 1, 61, 62, 3843, 10**6, 10**12):
        if encode(probe) != hashids.encode(probe):
            return hashids.encode
    return encode
