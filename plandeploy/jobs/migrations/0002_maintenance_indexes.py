"""Formerly created three cleanup indexes; they now belong to the models whose tables they
index (accounts 0003 user_never_logged_in, runs 0005 job_old_log and preflight_old_log).

Kept, without operations, because databases have recorded it and later migrations depend
on it. Those migrations create the indexes only if missing, under the same names, so a
database that ran the old version of this migration gets nothing twice.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("accounts", "0001_initial"),
        ("runs", "0001_initial"),
    ]

    operations = []
