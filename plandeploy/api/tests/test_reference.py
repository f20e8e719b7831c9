"""The interactive API reference (/api/docs/) loads every asset from this server.

(Redoc is not offered: drf-spectacular's Redoc page loads its fonts from Google.)
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

pytestmark = pytest.mark.django_db(transaction=True)

_ASSET_RE = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"')


def _assets(base_url: str, page: str) -> tuple[httpx.Response, list[str]]:
    response = httpx.get(urljoin(base_url, page), timeout=30)
    return response, [urljoin(str(response.url), src) for src in _ASSET_RE.findall(response.text)]


def test_reference_page_and_all_its_assets_come_from_our_server(live_server):
    response, assets = _assets(live_server.url, "/api/docs/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert assets, "the page loads no script or stylesheet"
    ours = urlsplit(live_server.url).netloc
    for asset in assets:
        assert urlsplit(asset).netloc == ours, f"{asset} is not served by us"
        loaded = httpx.get(asset, timeout=30)
        assert loaded.status_code == 200, asset
        assert loaded.content, asset


def test_swagger_ui_start_script_points_at_our_schema(live_server):
    _response, assets = _assets(live_server.url, "/api/docs/")
    start_script = next(a for a in assets if "script" in urlsplit(a).query)
    script = httpx.get(start_script, timeout=30)
    assert script.headers["content-type"].startswith("application/javascript")
    assert "/api/schema/" in script.text
    schema = httpx.get(urljoin(live_server.url, "/api/schema/"), timeout=30)
    assert schema.status_code == 200 and "openapi" in schema.text
