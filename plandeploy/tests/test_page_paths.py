"""Page paths: the job page route, built in one place, with each part percent-encoded."""

from __future__ import annotations

from plandeploy.catalog.page_paths import job_path, plan_path, product_path, version_path
from plandeploy.demo import job_page_url


def test_paths_of_each_page_kind():
    assert product_path("acme") == "/products/acme/"
    assert version_path("acme", "1.2") == "/products/acme/1.2/"
    assert plan_path("acme", "1.2", "install") == "/products/acme/1.2/install/"
    assert job_path("acme", "1.2", "install", "jR3k") == "/products/acme/1.2/install/jobs/jR3k/"


def test_parts_are_percent_encoded_so_a_path_never_gains_segments():
    assert version_path("acme", "1.0/beta x") == "/products/acme/1.0%2Fbeta%20x/"


def test_the_demo_prints_a_job_page_on_the_default_address():
    job = {"id": "jR3k", "product_slug": "sample", "version_label": "1.0", "plan_slug": "install"}
    assert job_page_url(job) == "http://127.0.0.1:8000/products/sample/1.0/install/jobs/jR3k/"
    assert job_page_url(job, "http://h:1") == "http://h:1/products/sample/1.0/install/jobs/jR3k/"
