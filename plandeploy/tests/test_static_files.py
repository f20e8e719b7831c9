"""Static files are served by `plandeploy web` itself, with no collectstatic step first."""

from __future__ import annotations

import httpx
import pytest

from plandeploy.testing.processes import web_process

pytestmark = pytest.mark.django_db(transaction=True)

ADMIN_CSS = "/static/admin/css/base.css"


def test_web_server_serves_the_admin_stylesheet_the_login_page_links():
    with web_process() as base_url:
        login = httpx.get(f"{base_url}/admin/login/", timeout=10)
        stylesheet = httpx.get(f"{base_url}{ADMIN_CSS}", timeout=10)
        missing = httpx.get(f"{base_url}/static/admin/css/no-such-file.css", timeout=10)

    assert login.status_code == 200
    assert f'href="{ADMIN_CSS}"' in login.text
    assert stylesheet.status_code == 200
    assert stylesheet.headers["content-type"].startswith("text/css")
    assert "body" in stylesheet.text
    assert missing.status_code == 404
