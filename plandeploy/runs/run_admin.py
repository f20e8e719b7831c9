"""Django admin for plan runs and preflights: support staff look runs up and cancel them.

Everything is read-only; the only write is the cancel action, which goes through the same
service as the API's cancel, so a run canceled here ends exactly as one canceled by its user.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from plandeploy.catalog.page_paths import job_path
from plandeploy.hashids import decode
from plandeploy.runs import services
from plandeploy.runs.models import Job, PreflightResult, Status
from plandeploy.scrub import scrub

_RUN_FIELDS = ("org_id", "user", "plan", "status", "created_at", "edited_at", "started_at",
               "success_at", "canceled_at", "cancel_requested_at", "job_id")


class RunAdmin(admin.ModelAdmin):
    """What the Job and PreflightResult admins share: search, filters, read-only detail."""

    list_filter = ("status", "created_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_select_related = ("user", "plan")
    # Org ids are matched exactly (they are pasted from a ticket; an index serves it).
    search_fields = ("=org_id", "user__username", "user__email",
                     "plan__translations__title", "plan__plan_template__slugs__slug")
    search_help_text = "Org id (exact), user name or e-mail, plan title or slug."
    actions = ["cancel_runs"]
    cancel_service: Callable[[object], bool]  # cancels one run; False when it had ended
    kind = "run"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A run's row is its user's history and the org-busy rule's record: never removed here.
        return False

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("plan__translations")

    @admin.display(description="plan")
    def plan_title(self, obj) -> str:
        return obj.plan.title

    @admin.display(description="results")
    def results_display(self, obj) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.results, indent=2, sort_keys=True))

    @admin.display(description="log (scrubbed)")
    def log_display(self, obj) -> str:
        # Logs are scrubbed when stored; scrubbing again on display covers rows from before.
        return format_html("<pre>{}</pre>", scrub(obj.log or ""))

    @admin.display(description="exception")
    def exception_display(self, obj) -> str:
        return scrub(obj.exception or "")

    @admin.action(description="Cancel the selected runs", permissions=["cancel"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet) -> None:
        running = list(queryset.filter(status=Status.STARTED))
        ended = queryset.exclude(status=Status.STARTED).count()
        canceled = sum(1 for run in running if self.cancel_service(run))
        ended += len(running) - canceled  # ended while we looked
        if canceled:
            self.message_user(
                request,
                f"Canceled {canceled} {self.kind}(s): one that had not started ends at once, "
                "a running one stops at its current step.",
                messages.SUCCESS,
            )
        if ended:
            self.message_user(
                request, f"{ended} {self.kind}(s) had already ended and were left as they are.",
                messages.WARNING,
            )


@admin.register(Job)
class JobAdmin(RunAdmin):
    cancel_service = staticmethod(services.request_cancel_job)
    kind = "job"
    list_display = ("public_id", "plan_title", "user", "org_id", "status", "is_public",
                    "created_at", "success_at")
    list_filter = ("status", "created_at", "is_public", "full_org_type")
    search_help_text = "Job id or org id (exact), user name or e-mail, plan title or slug."
    fields = ("public_id", "page_link", *_RUN_FIELDS, "org_type", "full_org_type", "is_public",
              "enqueued_at", "steps", "click_through_agreement", "results_display",
              "exception_display", "log_display")
    readonly_fields = fields

    @admin.display(description="id")
    def public_id(self, obj: Job) -> str:
        return obj.hashid

    @admin.display(description="page")
    def page_link(self, obj: Job) -> str:
        version = obj.plan.version
        product_slug, plan_slug = version.product.slug, obj.plan.slug
        if not (product_slug and plan_slug):
            return "-"
        path = job_path(product_slug, version.label, plan_slug, obj.hashid)
        return format_html('<a href="{}">{}</a>', path, path)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        pk = decode(search_term.strip()) if search_term.strip() else None
        if pk is not None:
            found |= queryset.filter(pk=pk)
        return found, may_have_duplicates


@admin.register(PreflightResult)
class PreflightResultAdmin(RunAdmin):
    cancel_service = staticmethod(services.request_cancel_preflight)
    kind = "preflight"
    list_display = ("id", "plan_title", "user", "org_id", "status", "is_valid", "created_at")
    list_filter = ("status", "created_at", "is_valid")
    fields = ("id", *_RUN_FIELDS, "is_valid", "results_display", "exception_display",
              "log_display")
    readonly_fields = fields
