"""`plandeploy demo`: the sample product installed end to end through the HTTP API and a worker.

On the embedded database it starts a web server and a worker (subprocesses), publishes the
sample product shipped in the package through the admin API, signs a demo user in, connects a
local org, runs the preflight, then the plan, showing a progress bar per step, and exits 0 when
the installation completed. Running it again reuses the published product and the demo org.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from plandeploy import bootstrap
from plandeploy.bootstrap import say
from plandeploy.catalog.page_paths import job_path
from plandeploy.demo_progress import Progress

ADMIN_USERNAME = "demo-admin"
DEMO_USERNAME = "demo"
RUN_TIMEOUT = 300


class DemoError(Exception):
    """The demo cannot go on; the message says what went wrong."""


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    bootstrap.start()
    sample = _copy_sample(bootstrap.home())
    port = args.port or _free_port()
    base_url = f"http://127.0.0.1:{port}"
    services = _start_services(port)
    try:
        _wait_for_web(base_url, services)
        demo = Demo(base_url)
        plan = demo.publish(sample)
        demo.sign_in()
        demo.connect_org()
        preflight = demo.run_preflight(plan)
        job = demo.run_plan(plan, preflight)
    except DemoError as exc:
        say(f"demo failed: {exc}")
        return 1
    finally:
        _stop_services(services)
    status = job["status"]
    say(f"demo finished in {time.monotonic() - started:.1f} s: the installation is {status}")
    say(f"the installation's page: {job_page_url(job)}")
    say("  start the server with `plandeploy up` (`make up`), then open that page in a browser;"
        " the job is shared, so it opens without signing in.")
    say(f"  the home page is http://{bootstrap.DEFAULT_HOST}:{bootstrap.DEFAULT_PORT}/, the"
        " admin site /admin/ (`plandeploy manage createsuperuser` makes an account).")
    return 0 if status == "complete" else 1


def job_page_url(job: dict[str, Any], base_url: str | None = None) -> str:
    """The web page of a job as the API represents it, on `plandeploy up`'s address by default.

    The demo's own server stops when it ends; the data stays, so the page opens once the
    service is up.
    """
    base_url = base_url or f"http://{bootstrap.DEFAULT_HOST}:{bootstrap.DEFAULT_PORT}"
    return base_url + job_path(
        job["product_slug"], job["version_label"], job["plan_slug"], job["id"]
    )


# -- processes ------------------------------------------------------------------------------


def _copy_sample(home: Path) -> Path:
    """The sample product copied into the state directory, where the demo may write.

    Running it from the installed package would fail wherever site-packages is read-only.
    """
    target = home / "sample-product"
    shutil.copytree(bootstrap.SAMPLE_PRODUCT, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".cci"))
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_services(port: int) -> list[subprocess.Popen]:
    base = [sys.executable, "-m", "plandeploy.cli"]
    say(f"starting a web server on port {port} and a worker")
    # The services' own logs would interleave with the progress bars.
    env = {**os.environ, "LOG_LEVEL": os.environ.get("DEMO_LOG_LEVEL", "WARNING")}
    return [
        subprocess.Popen([*base, "web", "--port", str(port)], env=env),
        subprocess.Popen([*base, "worker", "--concurrency", "2"], env=env),
    ]


def _wait_for_web(base_url: str, services: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for process in services:
            if process.poll() is not None:
                raise DemoError(f"a service exited with code {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise DemoError("the web server did not answer within 60 s")


def _stop_services(services: list[subprocess.Popen]) -> None:
    for process in services:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in services:
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the demo -------------------------------------------------------------------------------


class Demo:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.admin = httpx.Client(base_url=base_url, timeout=30,
                                  headers={"Authorization": f"Token {_admin_token()}"})
        self.user = httpx.Client(base_url=base_url, timeout=30)
        self.org_id: str | None = None

    # -- publishing -------------------------------------------------------------------------

    def publish(self, sample: Path) -> dict[str, Any]:
        """Publish the sample product through the admin API; what exists already is reused
        (a re-run, or a run that stopped half-way), so publishing is idempotent."""
        from django.conf import settings

        from plandeploy.catalog.models import Product, ProductCategory, Version

        data = json.loads((sample / "plan.json").read_text())
        product_data, version_data = data["product"], data["version"]
        plan_data = data["plans"][0]
        say("publishing the sample product through the admin API")
        category = self._ensure(
            "productcategory", ProductCategory.objects.filter(translations__title="Samples"),
            {"title": "Samples"},
        )
        product = self._ensure(
            "products", Product.objects.filter(productslug__slug=product_data["slug"]),
            {
                "title": product_data["title"],
                "description": product_data.get("description", ""),
                "category": category["url"],
                "repo_url": str(sample),
                "slug": product_data["slug"],
            },
        )
        product_pk = Product.pk_from_hashid(product["id"])
        version_body = {
            "product": product["url"],
            "label": version_data["label"],
            "description": version_data.get("description", ""),
        }
        if version_data.get("commit_ish"):
            version_body["commit_ish"] = version_data["commit_ish"]
        version = self._ensure(
            "versions",
            Version.objects.filter(product_id=product_pk, label=version_data["label"]),
            version_body,
        )
        first = self._publish_plan(plan_data, product, product_pk, version)
        # The sample's Salesforce plan fails on a local org: published only where people
        # can sign in with Salesforce.
        if settings.SALESFORCE_ENABLED:
            for other in data["plans"][1:]:
                self._publish_plan(other, product, product_pk, version)
        return first

    def _publish_plan(self, plan_data: dict[str, Any], product: dict[str, Any],
                      product_pk: int, version: dict[str, Any]) -> dict[str, Any]:
        from plandeploy.catalog.models import Plan, PlanTemplate, Version

        template = self._ensure(
            "plantemplates",
            PlanTemplate.objects.filter(product_id=product_pk, name=plan_data["slug"]),
            {
                "name": plan_data["slug"],
                "product": product["url"],
                "preflight_message": plan_data.get("preflight_message", ""),
                "post_install_message": plan_data.get("post_install_message", ""),
            },
        )
        template_pk = PlanTemplate.pk_from_hashid(template["id"])
        if not PlanTemplate.objects.get(pk=template_pk).slugs.filter(
            slug=plan_data["slug"]
        ).exists():
            self._admin_post("planslug", {"slug": plan_data["slug"], "parent": template["url"]})
        plan = self._ensure(
            "plans",
            Plan.objects.filter(
                plan_template_id=template_pk,
                version_id=Version.pk_from_hashid(version["id"]),
                steps__isnull=False,
            ).distinct(),
            {
                "title": plan_data["title"],
                "plan_template": template["url"],
                "version": version["url"],
                "tier": plan_data.get("tier", "primary"),
                "preflight_checks": plan_data.get("preflight_checks", []),
                "steps": [
                    {key: step[key] for key in (
                        "step_num", "name", "description", "kind", "path", "is_required",
                        "is_recommended", "task_class", "task_config",
                    ) if key in step}
                    for step in plan_data["steps"]
                ],
            },
        )
        return self._public_plan(plan["id"])

    def _ensure(self, resource: str, existing, body: dict[str, Any]) -> dict[str, Any]:
        """The admin API representation of the first `existing` object, else a new one."""
        found = existing.order_by("pk").first()
        if found is None:
            return self._admin_post(resource, body)
        public_id = getattr(found, "hashid", None) or str(found.pk)
        response = self.admin.get(f"/admin/rest/{resource}/{public_id}")
        _expect(response, 200, f"read {resource}")
        return response.json()

    def _public_plan(self, plan_id: str) -> dict[str, Any]:
        response = self.user.get(f"/api/plans/{plan_id}/")
        _expect(response, 200, "read the plan")
        return response.json()

    def _admin_post(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.admin.post(f"/admin/rest/{resource}", json=body)
        _expect(response, 201, f"create {resource}")
        return response.json()

    # -- the end user -----------------------------------------------------------------------

    def sign_in(self) -> None:
        """Sign the demo user in on the sign-in page; the API then uses that session."""
        password = _demo_user_password()
        page = self.user.get("/accounts/login/")
        _expect(page, 200, "open the sign-in page")
        response = self.user.post(
            "/accounts/login/",
            data={"username": DEMO_USERNAME, "password": password,
                  "csrfmiddlewaretoken": self._csrf(page.text)},
            headers={"Referer": f"{self.base_url}/accounts/login/"},
        )
        if response.status_code not in (200, 302) or "sessionid" not in self.user.cookies:
            raise DemoError(f"sign-in failed (HTTP {response.status_code})")
        self.user.headers["X-CSRFToken"] = self.user.cookies.get("csrftoken", "")
        self.user.headers["Referer"] = f"{self.base_url}/"
        say(f"signed in as {DEMO_USERNAME!r}")

    def _csrf(self, page: str) -> str:
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        return match.group(1) if match else self.user.cookies.get("csrftoken", "")

    def connect_org(self) -> None:
        response = self.user.post("/api/orgs/connect/", json={"name": "Demo org"})
        _expect(response, 201, "connect a local org")
        self.org_id = response.json()["org_id"]
        say(f"connected the local org {response.json()['org_name']!r}")

    def run_preflight(self, plan: dict[str, Any]) -> dict[str, Any]:
        path = f"/api/plans/{plan['id']}/preflight/"
        _expect(self.user.post(path), 201, "start the preflight checks")
        say("running the preflight checks ...")
        preflight = _poll(lambda: self.user.get(path).json(), "the preflight checks")
        names = {step["id"]: step["name"] for step in plan.get("steps") or []}
        for key, entries in (preflight.get("results") or {}).items():
            for entry in entries:
                where = "plan" if key == "plan" else names.get(key, key)
                say(f"  preflight {entry['status']}: {where}: {entry.get('message') or ''}")
        if preflight["status"] != "complete" or not preflight["is_ready"]:
            raise DemoError(
                f"the preflight ended {preflight['status']} with "
                f"{preflight.get('error_count', 0)} error(s)"
            )
        say(f"preflight complete: {preflight['warning_count']} warning(s), no errors")
        return preflight

    def run_plan(self, plan: dict[str, Any], preflight: dict[str, Any]) -> dict[str, Any]:
        """Install the plan and return the finished job (its API representation)."""
        steps = plan.get("steps") or []
        results = preflight.get("results") or {}
        selected = [
            step["id"] for step in steps
            if not any(e.get("status") in ("skip", "hide") for e in results.get(step["id"], []))
        ]
        # Shared, so that its page opens without the demo user's password (never shown).
        response = self.user.post(
            "/api/jobs/", json={"plan": plan["id"], "steps": selected, "is_public": True}
        )
        _expect(response, 201, "start the installation")
        job_id = response.json()["id"]
        say(f"installing {plan['title']!r} (job {job_id}) ...")
        progress = Progress(steps, selected)
        try:
            job = _poll(lambda: self.user.get(f"/api/jobs/{job_id}/").json(),
                        "the installation", on_update=progress.show)
        finally:
            progress.bars.stop()  # on a pipe, this prints the last state of the bars
        if job["status"] != "complete":
            detail = next(
                (e.get("message") for entries in job["results"].values() for e in entries
                 if e.get("status") == "error"), None,
            )
            say(f"the installation ended {job['status']}" + (f": {detail}" if detail else ""))
        return job


def _poll(read, what: str, on_update=None) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        data = read()
        if on_update:
            on_update(data)
        if data.get("status") != "started":
            return data
        time.sleep(0.1)
    raise DemoError(f"{what} did not finish within {RUN_TIMEOUT} s")


def _expect(response, status: int, what: str) -> None:
    if response.status_code != status:
        raise DemoError(f"could not {what}: HTTP {response.status_code} {response.text[:300]}")


# -- accounts (the operator's side: what `manage createsuperuser` would do) ------------------


def _admin_token() -> str:
    from plandeploy.accounts.models import User
    from plandeploy.accounts.tokens import issue_token

    admin, _ = User.objects.get_or_create(
        username=ADMIN_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if not (admin.is_staff and admin.is_superuser):
        admin.is_staff = admin.is_superuser = True
        admin.save(update_fields=["is_staff", "is_superuser"])
    return issue_token(admin)  # a fresh token: an old one may have expired


def _demo_user_password() -> str:
    """Give the demo user a fresh random password each run (it is never shown)."""
    from plandeploy.accounts.models import User

    user, _ = User.objects.get_or_create(username=DEMO_USERNAME)
    password = secrets.token_urlsafe(16)
    user.set_password(password)
    user.save(update_fields=["password"])
    return password

