"""Sessions signed in through Django's or django-allauth's backend name ours instead.

A session stores the path of the backend that signed it in, and a path no longer in
AUTHENTICATION_BACKENDS signs its visitor out: without this, everybody would have been
signed out by the switch to plandeploy.accounts.backends. The payload is signed, so each
live session is decoded and encoded again (expired ones are left to clearsessions).
"""

from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import migrations
from django.utils import timezone

BATCH = 500
# Written out: a migration must not change when the code it migrated to does.
REPLACES = {
    "django.contrib.auth.backends.ModelBackend": "plandeploy.accounts.backends.PasswordBackend",
    "allauth.account.auth_backends.AuthenticationBackend":
        "plandeploy.accounts.backends.SalesforceBackend",
}


def _rename(apps, schema_editor, renames: dict[str, str]) -> None:
    Session = apps.get_model("sessions", "Session")
    store = SessionStore()  # its encoding is every database session engine's
    changed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(BATCH):
        data = store.decode(session.session_data)
        backend = data.get(BACKEND_SESSION_KEY)
        if backend in renames:
            data[BACKEND_SESSION_KEY] = renames[backend]
            session.session_data = store.encode(data)
            changed.append(session)
        if len(changed) >= BATCH:
            Session.objects.bulk_update(changed, ["session_data"])
            changed = []
    Session.objects.bulk_update(changed, ["session_data"])


def forwards(apps, schema_editor):
    _rename(apps, schema_editor, REPLACES)


def backwards(apps, schema_editor):
    _rename(apps, schema_editor, {new: old for old, new in REPLACES.items()})


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0005_alter_user_managers"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=True)]
