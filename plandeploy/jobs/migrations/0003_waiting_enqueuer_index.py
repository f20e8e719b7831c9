"""An index for the waiting enqueuer_job that each new plan run looks for (POST /api/jobs/)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_maintenance_indexes"),
        ("procrastinate", "0041_post_retry_failed_job"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS procrastinate_jobs_waiting_enqueuer "
            "ON procrastinate_jobs (id) WHERE task_name = 'enqueuer_job' AND status = 'todo'",
            "DROP INDEX IF EXISTS procrastinate_jobs_waiting_enqueuer",
        )
    ]
