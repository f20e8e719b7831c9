"""Indexes for cleanup_user_data predicates not covered by the runs/accounts models.

- user_never_logged_in: idle users who never signed in are measured from date_joined
  (last_login IS NULL), which the user_idle_nonstaff index (on last_login) cannot find.
- job_old_log / preflight_old_log: old runs' scrubbed logs are cleared with their
  exceptions; the *_old_exception indexes only hold rows that have an exception.
"""

from django.db import migrations

INDEXES = {
    "user_never_logged_in": (
        "accounts_user (date_joined) WHERE NOT is_staff AND last_login IS NULL"
    ),
    "job_old_log": "runs_job (created_at) WHERE log <> ''",
    "preflight_old_log": "runs_preflightresult (created_at) WHERE log <> ''",
}


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("accounts", "0001_initial"),
        ("runs", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON {definition}",
            f"DROP INDEX IF EXISTS {name}",
        )
        for name, definition in INDEXES.items()
    ]
