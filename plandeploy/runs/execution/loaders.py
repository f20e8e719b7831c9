"""The raw-SQL reads of a run's worker: its row with what its spec needs, and its plan's steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Model
from django.utils import translation

from plandeploy.accounts.models import OrgConnection
from plandeploy.catalog.models import Plan, PlanTemplate, Product, Step, Version
from plandeploy.flowrunner import StepInput
from plandeploy.hashids import encode
from plandeploy.runs.models import Job


@dataclass
class ConnectionRow:
    org_id: str | None
    org_type: str
    workspace: str
    org_username: str
    instance_url: str
    access_token: str | None
    refresh_token: str | None


@dataclass
class RunRow:
    """What a run needs from its row, plan, version, product and the user's org connection."""

    status: str
    cancel_requested_at: Any
    org_id: str | None
    user_id: int | None
    plan_id: int
    commit_ish: str
    preflight_checks: list
    plan_name: str
    repo_url: str
    connection: ConnectionRow | None


def load_run(model: type[Model], pk: int) -> RunRow | None:
    """The run and everything its spec needs, in one statement.

    Written out as SQL because it runs once per run on the worker's hot path: building the
    equivalent five-join ORM query cost more CPU than the whole database round trip.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT r.status, r.cancel_requested_at, r.org_id, r.user_id, p.id,
                   COALESCE(NULLIF(p.commit_ish, ''), v.commit_ish, ''),
                   p.preflight_checks, t.name, pr.repo_url,
                   c.id, c.org_id, c.org_type, c.workspace, c.org_username, c.instance_url,
                   c.access_token, c.refresh_token
              FROM {model._meta.db_table} AS r
              JOIN {Plan._meta.db_table} AS p ON p.id = r.plan_id
              JOIN {Version._meta.db_table} AS v ON v.id = p.version_id
              JOIN {Product._meta.db_table} AS pr ON pr.id = v.product_id
              JOIN {PlanTemplate._meta.db_table} AS t ON t.id = p.plan_template_id
              LEFT JOIN {OrgConnection._meta.db_table} AS c ON c.user_id = r.user_id
             WHERE r.id = %s
            """,
            [pk],
        )
        found = cursor.fetchone()
    if found is None:
        return None
    (status, cancel_requested_at, org_id, user_id, plan_id, commit_ish, checks, plan_name,
     repo_url, connection_pk, *org) = found
    # Columns decoded by their own fields, as the ORM would (Fernet tokens, jsonb).
    tokens = OrgConnection._meta.get_field("access_token")
    checks = Plan._meta.get_field("preflight_checks").from_db_value(checks, None, connection)
    return RunRow(
        status, cancel_requested_at, org_id, user_id, plan_id, commit_ish, checks or [],
        plan_name, repo_url,
        None if connection_pk is None else ConnectionRow(
            *org[:5],
            tokens.from_db_value(org[5], None, connection),
            tokens.from_db_value(org[6], None, connection),
        ),
    )


def load_steps(plan_id: int, job_pk: int | None) -> list[StepInput]:
    """The plan's steps in order, in the current language where translated; for a job, the
    steps it did not select are skipped (a preflight checks them all)."""
    names = Step._parler_meta.root_model._meta.db_table
    selected = (
        f"EXISTS (SELECT 1 FROM {Job.steps.through._meta.db_table} AS js "
        "WHERE js.job_id = %(job)s AND js.step_id = s.id)" if job_pk is not None else "true"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT s.id, s.step_num, s.task_class, s.task_config, s.path, {selected},
                   (SELECT n.name FROM {names} AS n
                     WHERE n.master_id = s.id
                     ORDER BY n.language_code = %(language)s DESC,
                              n.language_code = %(default)s DESC, n.id
                     LIMIT 1)
              FROM {Step._meta.db_table} AS s
             WHERE s.plan_id = %(plan)s
             ORDER BY s.step_num_key
            """,
            {"plan": plan_id, "job": job_pk,
             "language": translation.get_language() or settings.LANGUAGE_CODE,
             "default": settings.LANGUAGE_CODE},
        )
        rows = cursor.fetchall()
    task_config = Step._meta.get_field("task_config")
    return [
        StepInput(
            step_id=encode(pk),
            step_num=step_num,
            name=name or "",
            task_class=task_class,
            task_config=task_config.from_db_value(config, None, connection) or {},
            skip=not chosen,
            path=path or None,
        )
        for pk, step_num, task_class, config, path, chosen, name in rows
    ]
