"""The job page (live progress, cancel, share) and the signed-in user's installations."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from plandeploy.api.job_reads import job_response_data
from plandeploy.api.permissions import may_change_job
from plandeploy.api.querysets import job_queryset, visible_jobs
from plandeploy.api.views.common import get_by_hashid
from plandeploy.catalog.texts import tr
from plandeploy.runs import services
from plandeploy.runs.models import Job, Status
from plandeploy.web import lookups, presenters


def _job(request: HttpRequest, job_id: str) -> Job:
    """The job if the visitor may read it (as the API decides), else 404."""
    return get_by_hashid(visible_jobs(request), job_id)


def _may_change(request: HttpRequest, job: Job) -> bool:
    """Cancel and share follow the API's rule: the owner, a superuser, or the scratch session."""
    return may_change_job(request, job)


def duration_seconds(job: Job) -> int | None:
    begun = job.started_at or job.enqueued_at
    if begun is None:
        return None
    ended = job.success_at or job.canceled_at or (
        job.edited_at if job.status != Status.STARTED else timezone.now())
    return max(0, int((ended - begun).total_seconds()))


@require_safe
def job_page(request: HttpRequest, product: str, version: str, plan: str,
             job: str) -> HttpResponse:
    """Each step's state, logs, the final message; live through static/web/live.js."""
    # The API's own read and representation (what the page's script polls), so the page
    # and GET /api/jobs/<id>/ cannot disagree about a job.
    row, data = job_response_data(request, job)
    if (row.plan.version.product.slug, row.plan.version.label, row.plan.slug) != (
            product, version, plan):
        raise Http404
    steps = list(row.plan.steps.all())
    # Built once for the page: the badge, every step and the page's script all use them.
    labels = presenters.state_labels()
    return render(request, "web/job.html", {
        "job": row,
        "data": data,
        "data_json": json.dumps(data),
        "plan_title": tr(row.plan, "title"),
        "product_title": tr(row.plan.version.product, "title"),
        "plan_url": lookups.plan_url(row.plan),
        "steps": presenters.job_step_rows(steps, data, labels),
        "may_change": _may_change(request, row),
        "elapsed": duration_seconds(row),
        "average": row.plan.calculated_average_duration,
        "share_url": request.build_absolute_uri(),
        "status_label": labels.get(row.status, row.status),
        "state_labels": labels,
    })


def _job_to_change(request: HttpRequest, job: str):
    """The job, for whoever may change it; anyone else learns nothing (404, as for a stranger)."""
    row = _job(request, job)
    if not _may_change(request, row):
        raise Http404
    return row


@require_POST
def cancel(request: HttpRequest, product: str, version: str, plan: str,
           job: str) -> HttpResponse:
    """Ask for the run to stop; the page shows `canceled` once the worker has stopped it."""
    row = _job_to_change(request, job)
    services.request_cancel_job(row)
    return redirect(lookups.plan_url(row.plan, "job", job=row.hashid))


@require_POST
def share(request: HttpRequest, product: str, version: str, plan: str,
          job: str) -> HttpResponse:
    """Make the job readable by anyone with its link, or private again."""
    row = _job_to_change(request, job)
    services.set_job_public(row, request.POST.get("is_public") == "yes")
    return redirect(lookups.plan_url(row.plan, "job", job=row.hashid))


@require_safe
@login_required
def my_installations(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own jobs, newest first (nobody sees another user's list)."""
    jobs = job_queryset().filter(user=request.user).order_by("-created_at", "-pk")
    page = Paginator(jobs, 50).get_page(request.GET.get("page"))
    rows = [{
        "job": job,
        "url": lookups.plan_url(job.plan, "job", job=job.hashid),
        "product": tr(job.plan.version.product, "title"),
        "plan": tr(job.plan, "title"),
        "version": job.plan.version.label,
        "org": request.user.org_name if job.org_id == request.user.org_id else job.org_id,
        "duration": duration_seconds(job),
    } for job in page]
    return render(request, "web/my_installations.html", {"rows": rows, "page": page})
