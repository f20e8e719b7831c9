"""Browser support for the page tests: Debian's Chromium via Playwright, axe, screenshots."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from plandeploy.accounts.models import User
from plandeploy.testing.processes import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
# Long enough for a worker to pick a run up and a flow to start on a busy 2-core machine.
LIVE_TIMEOUT_MS = 60_000

_axe = Axe()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot of the page kind `name` (kept from every run)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the current page."""
    results = _axe.run(page)
    return [
        f"{violation['id']} ({violation['impact']}): "
        + ", ".join(str(node.get("target")) for node in violation["nodes"][:5])
        for violation in results.response["violations"]
        if violation.get("impact") in ("serious", "critical")
    ]


_CONTROLS = (
    "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), "
    "select:not([disabled]), textarea:not([disabled]), summary"
)


def unreachable_controls(page, max_tabs: int = 200) -> list[str]:
    """Visible, enabled controls that pressing Tab from the top of the page never focuses."""
    count = page.evaluate(
        """(selector) => {
            const visible = (el) => !!(el.offsetWidth || el.offsetHeight
                || el.getClientRects().length)
                && getComputedStyle(el).visibility !== 'hidden' && !el.closest('[hidden]');
            let n = 0;
            document.querySelectorAll(selector).forEach((el) => {
                if (visible(el)) { el.setAttribute('data-kbd', String(n++)); }
            });
            window.__focused = new Set();
            document.addEventListener('focusin', (event) => {
                const mark = event.target.getAttribute && event.target.getAttribute('data-kbd');
                if (mark !== null) { window.__focused.add(mark); }
            });
            document.activeElement && document.activeElement.blur();
            return n;
        }""",
        _CONTROLS,
    )
    for _ in range(min(max_tabs, count * 2 + 5)):
        page.keyboard.press("Tab")
    missing = page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-kbd]'))
            .filter((el) => !window.__focused.has(el.getAttribute('data-kbd')))
            .map((el) => el.outerHTML.slice(0, 120))"""
    )
    return missing


def check_page(page, name: str) -> None:
    """Screenshot the page, then assert axe finds nothing serious and Tab reaches every control."""
    screenshot(page, name)
    violations = serious_violations(page)
    assert not violations, f"{name}: accessibility violations: {violations}"
    missing = unreachable_controls(page)
    assert not missing, f"{name}: not reachable by keyboard: {missing}"


def make_user() -> tuple[User, str]:
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user(username=f"web-{secrets.token_hex(3)}", password=password)
    return user, password


def sign_in(page, user: User, password: str) -> None:
    """Sign in through the form; LOGIN_REDIRECT_URL lands on the home page."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()
