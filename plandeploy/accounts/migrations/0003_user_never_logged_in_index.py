"""The index of users who never signed in, now declared on User.

Databases migrated before this have it already (created by jobs 0002 under this name), so
it is created only if missing.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_api_token_created_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="user",
                    index=models.Index(
                        fields=["date_joined"], name="user_never_logged_in",
                        condition=models.Q(is_staff=False, last_login__isnull=True),
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "CREATE INDEX IF NOT EXISTS user_never_logged_in ON accounts_user "
                    "(date_joined) WHERE NOT is_staff AND last_login IS NULL",
                    "DROP INDEX IF EXISTS user_never_logged_in",
                ),
            ],
        ),
    ]
