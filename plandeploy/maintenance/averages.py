"""calculate_average_plan_runtimes' rule: each plan's median run time, in one statement."""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction

from plandeploy.catalog.models import Plan
from plandeploy.maintenance.batches import Counts
from plandeploy.runs.models import Job


def update_average_durations() -> Counts:
    """Median of (success_at - enqueued_at) over each plan's last AVERAGE_JOB_WINDOW complete
    runs, in whole seconds; NULL below MINIMUM_JOBS_FOR_AVERAGE runs (an old value is not
    kept: a plan with too few runs shows no estimate rather than a stale one). Only plans
    whose value changes are written, and only that column.

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
