"""accounts.services.connect_local_org without HTTP: reconnecting keeps the org, not the token."""

from __future__ import annotations

import pytest

from plandeploy.accounts import services
from plandeploy.catalog.tests import factories
from plandeploy.orgs.workspaces import resolve

pytestmark = pytest.mark.django_db


def test_connecting_again_keeps_org_and_workspace_and_replaces_the_token():
    user = factories.user(connected=False)
    first = services.connect_local_org(user, "My org")
    assert first.org_name == "My org" and resolve(first.workspace).is_dir()
    token = first.access_token
    again = services.connect_local_org(user, None)
    assert again.pk == first.pk and again.org_id == first.org_id
    assert again.workspace == first.workspace and again.org_name == "My org"
    assert again.access_token != token
