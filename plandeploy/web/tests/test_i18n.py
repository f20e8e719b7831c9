"""The pages' own texts in Spanish: chosen by Accept-Language or the switcher, all translated."""

from __future__ import annotations

import ast
import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from plandeploy.testing.processes import REPO_ROOT
from plandeploy.web import lookups
from plandeploy.web.tests.catalog_rows import sample_plan

pytestmark = pytest.mark.django_db

WEB = REPO_ROOT / "plandeploy" / "web"
CATALOGUE = WEB / "locale" / "es" / "LC_MESSAGES"


def text(response) -> str:
    return response.content.decode()


def test_accept_language_es_renders_the_pages_in_spanish():
    plan = sample_plan()
    spanish = {"HTTP_ACCEPT_LANGUAGE": "es-ES,es;q=0.9,en;q=0.5"}
    home = text(Client().get("/", **spanish))
    assert '<html lang="es">' in home
    assert "<h1>Productos</h1>" in home and "Iniciar sesión" in home
    page = text(Client().get(lookups.plan_url(plan), **spanish))
    assert "Comprobaciones previas" in page
    assert "Inicie sesión para instalar este plan." in page
    assert "He leído y acepto el acuerdo" in page
    missing = Client().get("/no-such-page/", **spanish)
    assert missing.status_code == 404 and "Página no encontrada" in text(missing)


def test_the_switcher_changes_the_language_and_back():
    client = Client()
    assert "<h1>Products</h1>" in text(client.get("/", HTTP_ACCEPT_LANGUAGE="en"))
    client.post("/i18n/setlang/", {"language": "es", "next": "/"})
    # The choice outranks the browser's Accept-Language from now on.
    assert "<h1>Productos</h1>" in text(client.get("/", HTTP_ACCEPT_LANGUAGE="en"))
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "<h1>Products</h1>" in text(client.get("/", HTTP_ACCEPT_LANGUAGE="es"))


def test_the_server_error_page_is_translated_too():
    from django.test import RequestFactory
    from django.utils import translation

    from plandeploy.api.errors import server_error

    with translation.override("es"):
        page = server_error(RequestFactory().get("/products/x/"))
    assert page.status_code == 500
    assert "Algo salió mal" in page.content.decode() and 'lang="es"' in page.content.decode()


@pytest.fixture
def gettext_tools():
    missing = [tool for tool in ("msgfmt", "xgettext") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{missing} not found: install GNU gettext (`apt-get install gettext`; "
                    ".ci/run does it when missing)")


def _msgids(po_file: Path) -> set[str]:
    """The msgids of a catalogue written with --no-wrap (one line each), the header left out;
    one with a context is keyed as gettext keys it: context, EOT, msgid."""
    found, context = set(), ""
    for line in po_file.read_text(encoding="utf-8").splitlines():
        if match := re.fullmatch(r'msgctxt (".*")', line):
            context = ast.literal_eval(match.group(1)) + "\x04"
        elif (match := re.fullmatch(r'msgid (".*")', line)) and match.group(1) != '""':
            found.add(context + ast.literal_eval(match.group(1)))
            context = ""
    return found


def _compiled(mo_file: Path) -> dict:
    with mo_file.open("rb") as handle:
        return dict(gettext.GNUTranslations(handle)._catalog)


def test_every_page_string_has_a_spanish_translation(tmp_path, gettext_tools):
    """Extracts the strings from a copy of the web app's code as `make messages` does."""
    copy = tmp_path / "web"
    shutil.copytree(WEB, copy, ignore=shutil.ignore_patterns("tests", "__pycache__", "static"))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "plandeploy.settings",
           "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-m", "django", "makemessages", "-l", "es", "--no-location",
                    "--no-wrap", "--no-obsolete", "-e", "html,py"],
                   cwd=copy, env=env, check=True, capture_output=True)
    in_code = _msgids(copy / "locale" / "es" / "LC_MESSAGES" / "django.po")
    translated = {key[0] if isinstance(key, tuple) else key: value
                  for key, value in _compiled(CATALOGUE / "django.mo").items()}
    assert "Install" in in_code and "Server error" in in_code
    untranslated = sorted(msgid for msgid in in_code if not translated.get(msgid))
    assert not untranslated, f"run `make messages` and translate: {untranslated}"


def test_the_committed_catalogue_is_compiled_from_its_source(tmp_path, gettext_tools):
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(CATALOGUE / "django.po")],
                   check=True, capture_output=True)
    assert _compiled(CATALOGUE / "django.mo") == _compiled(compiled)


def test_job_and_step_states_read_in_spanish():
    from plandeploy.runs.models import Job, Status
    from plandeploy.runs.tests.factories import local_user

    plan = sample_plan()
    user = local_user()
    step = plan.steps.first()
    job = Job.objects.create(user=user, plan=plan, org_id=user.org_id, status=Status.COMPLETE,
                             results={step.hashid: [{"status": "ok"}]})
    job.steps.set([step])
    client = Client()
    client.force_login(user)
    page = text(client.get(lookups.plan_url(plan, "job", job=job.hashid),
                           HTTP_ACCEPT_LANGUAGE="es"))
    assert 'id="job-status" role="status">completada</span>' in page
    assert '<span class="step-state" data-role="state">correcto</span>' in page
    assert '<span class="step-state" data-role="state">omitido</span>' in page
    # The labels the page's script shows live updates with.
    assert '<script id="state-labels" type="application/json">' in page
    listing = text(client.get("/my-installations/", HTTP_ACCEPT_LANGUAGE="es"))
    assert ">completada</span>" in listing


def test_our_catalogue_wins_over_the_admins_for_words_both_translate():
    from django.utils import translation

    with translation.override("es"):
        assert translation.gettext("Created") == "Creada"  # the admin's says "Fecha de creación"
