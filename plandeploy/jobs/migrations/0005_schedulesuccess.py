from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0004_queue_lock_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="ScheduleSuccess",
            fields=[
                ("name", models.CharField(max_length=128, primary_key=True, serialize=False)),
                ("succeeded_at", models.DateTimeField()),
            ],
        ),
    ]
