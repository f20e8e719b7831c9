"""A scratch org's requester e-mail is stored encrypted (it waits there until creation starts)."""

from django.db import migrations

import plandeploy.crypto


def encrypt_waiting_emails(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, email FROM runs_scratchorg WHERE email IS NOT NULL")
        for pk, email in cursor.fetchall():
            cursor.execute("UPDATE runs_scratchorg SET email = %s WHERE id = %s",
                           [plandeploy.crypto.encrypt(email), pk])


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0008_old_step_text_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="scratchorg",
            name="email",
            field=plandeploy.crypto.EncryptedTextField(blank=True, null=True),
        ),
        migrations.RunPython(encrypt_waiting_emails, migrations.RunPython.noop),
    ]
