"""API tokens issued before tokens were hashed: replace each stored key by its digest.

The same digest as plandeploy.accounts.tokens.digest (SHA-256, first 40 hex characters),
so every token keeps working while the database stops holding it in the clear.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_never_logged_in_index"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [
        migrations.RunSQL(
            "UPDATE authtoken_token "
            "SET key = left(encode(sha256(convert_to(key, 'UTF8')), 'hex'), 40)",
            migrations.RunSQL.noop,
        ),
    ]
