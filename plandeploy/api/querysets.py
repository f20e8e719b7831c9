"""The querysets the public API reads through, with what their serializers touch prefetched."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from plandeploy.api import sessions
from plandeploy.catalog.models import Plan, Product, Step, Version
from plandeploy.runs.models import Job


def plan_queryset() -> QuerySet:
    return Plan.objects.select_related(
        "version__product__visible_to", "version__product", "plan_template", "visible_to"
    ).prefetch_related(
        "translations",
        "plan_template__translations",
        "plan_template__slugs",
        Prefetch("steps", queryset=Step.objects.prefetch_related("translations")),
        "version__product__translations",
        "version__product__productslug_set",
    )


def version_queryset() -> QuerySet:
    return Version.objects.select_related("product").prefetch_related(
        "translations", Prefetch("plans", queryset=plan_queryset())
    )


def product_queryset() -> QuerySet:
    return Product.objects.select_related("category", "visible_to").prefetch_related(
        "translations",
        "category__translations",
        "productslug_set",
        Prefetch("versions", queryset=version_queryset()),
    )


def listed_products() -> QuerySet:
    listed_ids = Version.objects.filter(is_listed=True).values("product_id")
    return product_queryset().filter(is_listed=True, pk__in=listed_ids)


def job_queryset() -> QuerySet:
    return Job.objects.select_related(
        "user__org_connection", "plan__plan_template", "plan__version__product"
    ).prefetch_related(
        "steps",
        "plan__translations",
        "plan__plan_template__translations",
        "plan__plan_template__slugs",
        "plan__version__product__translations",
        "plan__version__product__productslug_set",
    )


class JobVisibility:
    """Which jobs a request may read: staff all; others public ones, their own, and those of
    their session's scratch org. One rule, two renderings: visible_jobs (a queryset) and
    `sql` (the hot read of api.job_reads)."""

    def __init__(self, request) -> None:
        user = request.user
        self.everything = bool(user.is_authenticated and user.is_staff)
        self.user_pk = user.pk if user.is_authenticated and not self.everything else None
        # A scratch org still being created has no org id: matching on it would show every
        # job without an org.
        self.session_org_id = (
            None if self.everything else sessions.session_scratch_org_id(request))

    def q(self) -> Q | None:
        if self.everything:
            return None
        visible = Q(is_public=True)
        if self.user_pk is not None:
            visible |= Q(user=self.user_pk)
        if self.session_org_id:
            visible |= Q(user__isnull=True, org_id=self.session_org_id)
        return visible

    def sql(self, alias: str) -> tuple[str, list]:
        """The condition on the job table aliased `alias`, and its parameters."""
        if self.everything:
            return "TRUE", []
        terms, params = [f"{alias}.is_public"], []
        if self.user_pk is not None:
            terms.append(f"{alias}.user_id = %s")
            params.append(self.user_pk)
        if self.session_org_id:
            terms.append(f"({alias}.user_id IS NULL AND {alias}.org_id = %s)")
            params.append(self.session_org_id)
        return "(" + " OR ".join(terms) + ")", params


def visible_jobs(request, jobs: QuerySet | None = None) -> QuerySet:
    """The jobs `request` may read (JobVisibility).

    `jobs`: what to read of them (default job_queryset()).
    """
    jobs = job_queryset() if jobs is None else jobs
    # One WHERE of ORed conditions: combining querysets (`|`) compiled to subqueries that
    # cost more to build than the query costs to run.
    visible = JobVisibility(request).q()
    return jobs if visible is None else jobs.filter(visible)
