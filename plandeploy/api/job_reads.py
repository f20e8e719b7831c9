"""GET /api/jobs/<id>/: the job's own rows in one query, all of its plan from the catalogue cache.

Why: the job changes while it runs, so its rows are read on every request (never cached);
but through the ORM (a wide select_related, a prefetch of the steps, and DRF's serializer)
they cost ~10 ms of Python a request, twenty times the queries' time. The query here is
written once from the models' metadata (plandeploy.sqlrows), the steps come as an array
in the same row, and the representation is built by serializers.runs.job_representation,
which a test holds equal to JobSerializer's.
"""

from __future__ import annotations

from functools import cache as once

from django.db import connection
from django.http import Http404
from django.utils.translation import get_language

from plandeploy.accounts.models import OrgConnection, User
from plandeploy.api import sessions
from plandeploy.api.cached import catalogue_plan_by_pk
from plandeploy.api.querysets import JobVisibility
from plandeploy.api.serializers.runs import job_plan_fields, job_representation
from plandeploy.catalog import cache
from plandeploy.catalog.models import Step
from plandeploy.hashids import decode
from plandeploy.runs.models import Job
from plandeploy.sqlrows import Columns, instances, quote

# What job_representation and the job page read of the job, its user and their org; the
# rest (the log, the exception) stays in the database.
_JOB = ("id", "user_id", "plan_id", "results", "created_at", "edited_at", "enqueued_at",
        "started_at", "success_at", "canceled_at", "job_id", "status", "org_id", "org_type",
        "full_org_type", "is_public")
_USER = ("id", "username", "is_staff")
_ORG = ("id", "user_id", "org_id", "org_name", "instance_url", "org_username")


@once
def _job_query() -> tuple[str, Columns, Columns, Columns]:
    job, user, org = Columns(Job, "j", _JOB), Columns(User, "u", _USER), Columns(
        OrgConnection, "o", _ORG)
    through = Job.steps.through._meta
    # The steps in Step's ordering (plan, step_num_key), as `job.steps.all()` lists them.
    steps = (
        f"ARRAY(SELECT js.{quote(through.get_field('step').column)}"
        f" FROM {quote(through.db_table)} js JOIN {quote(Step._meta.db_table)} s"
        f" ON s.id = js.{quote(through.get_field('step').column)}"
        f" WHERE js.{quote(through.get_field('job').column)} = j.id"
        " ORDER BY s.plan_id, s.step_num_key, s.id)"
    )
    sql = (
        f"SELECT {job.sql}, {user.sql}, {org.sql}, {steps}"
        f" FROM {quote(Job._meta.db_table)} j"
        f" LEFT JOIN {quote(User._meta.db_table)} u ON u.id = j.user_id"
        f" LEFT JOIN {quote(OrgConnection._meta.db_table)} o ON o.user_id = u.id"
        " WHERE j.id = %s AND {visible}"
    )
    return sql, job, user, org


def _read_job(pk: int, visibility: JobVisibility) -> tuple[Job, list[int]] | None:
    sql, job_columns, user_columns, org_columns = _job_query()
    visible, params = visibility.sql("j")
    with connection.cursor() as cursor:
        cursor.execute(sql.replace("{visible}", visible), [pk, *params])
        row = cursor.fetchone()
    if row is None:
        return None
    job, user, org = instances(row, job_columns, user_columns, org_columns)
    Job.user.field.set_cached_value(job, user)
    if user is not None:
        user.keep_loaded_org_connection(org)
    return job, list(row[-1])


def job_response_data(request, public_id: str) -> tuple[Job, dict]:
    """The job of this public id if `request` may read it (else Http404), and its
    representation (JobSerializer's)."""
    # The catalogue version first (catalog/cache.py: what makes the cache never stale).
    version = cache.request_version(request)
    pk = decode(public_id)
    visibility = JobVisibility(request)
    found = _read_job(pk, visibility) if pk is not None else None
    plan = catalogue_plan_by_pk(found[0].plan_id, version) if found else None
    if plan is None:  # no such job, not the caller's, or its plan deleted since
        raise Http404
    job, step_ids = found
    job.plan = plan
    session_org_id = visibility.session_org_id
    if visibility.everything and job.user_id is None:
        # Staff read every job without their session's scratch org; the org details of
        # a scratch org's job still go to its session only.
        session_org_id = sessions.session_scratch_org_id(request)
    return job, job_representation(job, step_ids, _plan_fields(plan, version), request.user,
                                   session_org_id)


def created_job_data(request, job: Job) -> dict:
    """The representation (JobSerializer's) of the job this request has just created, from
    what creating it loaded: its plan from the catalogue cache at the version the request
    read (cache.request_version, first read by CataloguePlanField), its steps as written, its
    user as authenticated. Nothing is read back."""
    steps = sorted(job.steps.all(), key=lambda step: (step.plan_id, step.step_num_key, step.pk))
    # A run without a user is the scratch org's, and the session that created it holds it.
    session_org_id = job.org_id if job.user_id is None else None
    plan_fields = _plan_fields(job.plan, cache.request_version(request))
    return job_representation(job, [step.pk for step in steps], plan_fields, request.user,
                              session_org_id)


def _plan_fields(plan, version: int | None) -> dict:
    return cache.CACHE.get(version, ("job-plan-fields", plan.pk, get_language()),
                           lambda: job_plan_fields(plan, version))
