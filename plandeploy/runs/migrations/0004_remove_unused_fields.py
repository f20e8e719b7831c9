"""Drop columns nothing writes or reads: Job.master_service_agreement and is_release_test."""

from django.conf import settings
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_plan_order_key"),
        ("runs", "0003_scratch_org_unfinished_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveField(model_name="job", name="is_release_test"),
        migrations.RemoveField(model_name="job", name="master_service_agreement"),
        migrations.RemoveField(model_name="preflightresult", name="is_release_test"),
    ]
