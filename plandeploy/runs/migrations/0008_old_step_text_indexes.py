"""Partial indexes for cleanup_user_data's clearing of old per-step messages and logs.

The predicate (a JSON path) cannot be written as a model index condition, so the indexes
live in SQL only; maintenance.cleanup.STEP_TEXT_PREDICATE is the same text.
"""

from django.db import migrations

PREDICATE = (
    "jsonb_typeof(results) = 'object' AND "
    "results @? '$.*[*] ? (exists(@.message) || exists(@.logs))'"
)
INDEXES = {"job_old_step_text": "runs_job", "preflight_old_step_text": "runs_preflightresult"}


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0007_one_run_or_preflight_per_org"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} (created_at) WHERE {PREDICATE}",
            f"DROP INDEX IF EXISTS {name}",
        )
        for name, table in INDEXES.items()
    ]
