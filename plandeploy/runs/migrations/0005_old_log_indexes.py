"""The old-log indexes of cleanup_user_data, now declared on Job and PreflightResult.

Databases migrated before this have them already (created by jobs 0002 under these names),
so they are created only if missing.
"""

from django.db import migrations, models

INDEXES = {
    "job": ("job_old_log", "runs_job"),
    "preflightresult": ("preflight_old_log", "runs_preflightresult"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0004_remove_unused_fields"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name=model_name,
                    index=models.Index(
                        fields=["created_at"], name=name, condition=~models.Q(log="")
                    ),
                )
                for model_name, (name, _table) in INDEXES.items()
            ],
            database_operations=[
                migrations.RunSQL(
                    f"CREATE INDEX IF NOT EXISTS {name} ON {table} (created_at) WHERE log <> ''",
                    f"DROP INDEX IF EXISTS {name}",
                )
                for name, table in INDEXES.values()
            ],
        ),
    ]
