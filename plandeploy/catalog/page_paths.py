"""The paths of the catalogue's web pages and of a job's page, built in one place.

The pages' URL routes, the demo's closing message, the admin's links and anything that e-mails
or prints a link all use these, so a link can never point at a route that does not exist.
Each part is percent-encoded: a version label may hold characters a path cannot.
"""

from __future__ import annotations

from urllib.parse import quote


def _join(*parts: str) -> str:
    return "/" + "".join(f"{quote(str(part), safe='')}/" for part in parts)


def product_path(product_slug: str) -> str:
    return _join("products", product_slug)


def version_path(product_slug: str, version_label: str) -> str:
    return _join("products", product_slug, version_label)


def plan_path(product_slug: str, version_label: str, plan_slug: str) -> str:
    return _join("products", product_slug, version_label, plan_slug)


def job_path(product_slug: str, version_label: str, plan_slug: str, job_id: str) -> str:
    """`/products/<product>/<version>/<plan>/jobs/<job id>/`; `job_id` is the public id."""
    return _join("products", product_slug, version_label, plan_slug, "jobs", job_id)
