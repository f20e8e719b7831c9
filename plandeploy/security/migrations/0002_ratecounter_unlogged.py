"""The rate counters skip PostgreSQL's write-ahead log.

Why: every POST that starts work first counts itself in this table, in a statement of its
own that commits at once, and each such commit waits for the log to reach the disk; an
unlogged table's writes do not. What is given up is harmless for counters of short windows:
after a crash of the database server (or on a standby promoted to primary) the table starts
empty, so each client's current window starts over.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("security", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE security_ratecounter SET UNLOGGED",
            reverse_sql="ALTER TABLE security_ratecounter SET LOGGED",
        ),
    ]
