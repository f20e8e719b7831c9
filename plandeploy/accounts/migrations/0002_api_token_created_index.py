"""Index the API tokens' creation time: cleanup_user_data deletes tokens by age."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS authtoken_token_created ON authtoken_token (created)",
            "DROP INDEX IF EXISTS authtoken_token_created",
        )
    ]
