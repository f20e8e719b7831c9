"""Django admin for scratch orgs: read-only rows whose deletion is queued, never done in place.

Deleting a scratch org means stopping its runs and removing its workspace before its row, so
the admin site defers delete_scratch_org instead of deleting the row itself.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from plandeploy.runs import run_admin  # noqa: F401  (registers the Job and preflight admins)
from plandeploy.runs.models import ScratchOrg
from plandeploy.runs.scratch_org_removal import request_deletion


@admin.register(ScratchOrg)
class ScratchOrgAdmin(admin.ModelAdmin):
    list_display = ("id", "plan", "status", "org_id", "created_at", "expires_at")
    list_filter = ("status",)
    search_fields = ("org_id",)
    # The e-mail is personal data used once by the creation job: never shown.
    exclude = ("email",)
    readonly_fields = ("plan", "enqueued_at", "job_id", "uuid", "created_at", "edited_at",
                       "status", "config", "org_id", "expires_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ScratchOrg | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: ScratchOrg) -> None:
        self.delete_queryset(request, ScratchOrg.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            for pk in queryset.values_list("pk", flat=True):
                request_deletion(pk)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id) -> HttpResponse:
        self.message_user(
            request,
            f"The scratch org “{obj_display}” will be deleted: its runs are stopped, then its "
            "workspace and its record are removed.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:runs_scratchorg_changelist"))
