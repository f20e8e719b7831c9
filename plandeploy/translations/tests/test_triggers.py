"""The management command and the Django admin action defer update_all_translations."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from plandeploy.accounts.models import User
from plandeploy.translations.models import Translation

pytestmark = pytest.mark.django_db


def test_command_defers_the_job_for_one_language(capsys, deferred):
    call_command("update_translations", "fr")
    assert deferred() == [("update_all_translations", "short", {"lang": "fr"})]
    assert "Deferred update_all_translations for fr" in capsys.readouterr().out


def test_command_all_defers_one_job_for_every_language(deferred):
    call_command("update_translations", "--all")
    assert deferred() == [("update_all_translations", "short", {})]


def test_command_twice_leaves_one_waiting_job(capsys, deferred):
    call_command("update_translations", "de")
    call_command("update_translations", "de")
    assert len(deferred()) == 1
    assert "already waiting" in capsys.readouterr().out


@pytest.mark.parametrize("args", [(), ("fr", "--all"), ("xx",), ("en",)])
def test_command_refuses_bad_arguments(args, deferred):
    with pytest.raises(CommandError):
        call_command("update_translations", *args)
    assert deferred() == []


def test_admin_action_defers_one_job_per_selected_language(client, deferred):
    admin = User.objects.create_superuser("root", password="pw-for-tests-only")
    client.force_login(admin)
    entries = Translation.objects.bulk_create([
        Translation(lang="es", context="acme:product", slug="title", text="Acme ES"),
        Translation(lang="es", context="acme:product", slug="description", text="Desc"),
        Translation(lang="ja", context="acme:product", slug="title", text="Acme JA"),
        Translation(lang="xx", context="acme:product", slug="title", text="Acme XX"),
    ])

    response = client.post(
        "/admin/translations/translation/",
        {"action": "apply_to_catalogue", "_selected_action": [e.pk for e in entries]},
        follow=True,
    )

    assert response.status_code == 200
    assert deferred() == [
        ("update_all_translations", "short", {"lang": "es"}),
        ("update_all_translations", "short", {"lang": "ja"}),
    ]
    shown = [str(message) for message in response.context["messages"]]
    assert any("skipped: xx" in message for message in shown)
