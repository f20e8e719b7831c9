"""Plan runs (Job), preflight checks (PreflightResult) and scratch orgs (ScratchOrg)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from plandeploy.catalog.models import ClickThroughAgreement, Plan, Step
from plandeploy.crypto import EncryptedTextField
from plandeploy.hashids import HashIdModel


class Status(models.TextChoices):
    STARTED = "started"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELED = "canceled"


INTERRUPTED_MESSAGE = "The installation job was interrupted. Please retry the installation."
CANCELED_MESSAGE = "Job canceled."

# Raised by the trigger of migration 0006 when a plan run or preflight would start on an org
# where the other kind (or another preflight) is `started`; its DETAIL names the other row
# as "job <pk>" or "preflight <pk>". Class 23: it is a constraint across the two tables.
ORG_BUSY_SQLSTATE = "23B01"


class Job(HashIdModel):
    """One run of a plan against an org. `started` from insert until it ends.

    enqueued_at: claimed by the enqueuer and deferred to the queue.
    started_at: the first step began (the running state, distinct from waiting).
    Status changes go through plandeploy.runs.status.transition only.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="jobs",
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="jobs")
    steps = models.ManyToManyField(Step, related_name="jobs")
    results = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(auto_now=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The procrastinate job id of the run_flows_job carrying this run.
    job_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=64, choices=Status.choices, default=Status.STARTED)
    org_id = models.CharField(max_length=18, null=True, blank=True)
    org_type = models.CharField(max_length=256, blank=True, default="")
    full_org_type = models.CharField(max_length=256, null=True, blank=True)
    is_public = models.BooleanField(default=False)
    success_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    exception = models.TextField(null=True, blank=True)
    log = models.TextField(blank=True, default="")
    click_through_agreement = models.ForeignKey(
        ClickThroughAgreement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            # At most one plan run per org at a time, enforced by the database (a run and a
            # preflight on one org: the trigger of migration 0006).
            models.UniqueConstraint(
                fields=["org_id"], condition=Q(status="started"), name="job_one_running_per_org"
            ),
        ]
        indexes = [
            # The enqueuer sweep: started jobs not yet handed to the queue.
            models.Index(fields=["created_at"], name="job_waiting_enqueue",
                         condition=Q(enqueued_at__isnull=True, status="started")),
            models.Index(fields=["enqueued_at"], name="job_started_enqueued",
                         condition=Q(status="started")),
            models.Index(fields=["user", "created_at"], name="job_user_started",
                         condition=Q(status="started")),
            models.Index(fields=["created_at"], name="job_old_exception",
                         condition=Q(exception__isnull=False)),
            # Old runs' scrubbed logs are cleared too, also when they have no exception.
            models.Index(fields=["created_at"], name="job_old_log", condition=~Q(log="")),
            models.Index(fields=["plan", "-success_at"], name="job_plan_complete",
                         condition=Q(status="complete")),
            models.Index(fields=["org_id", "status"], name="job_org_status"),
        ]


class PreflightResult(models.Model):
    """One run of a plan's preflight checks against an org."""

    org_id = models.CharField(max_length=18, null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="preflights",
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="preflights")
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(auto_now=True)
    is_valid = models.BooleanField(default=True)
    status = models.CharField(max_length=64, choices=Status.choices, default=Status.STARTED)
    job_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    success_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    log = models.TextField(blank=True, default="")
    results = models.JSONField(default=dict, blank=True)
    exception = models.TextField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="preflight_valid_age",
                         condition=Q(is_valid=True)),
            models.Index(fields=["org_id", "plan", "-created_at"], name="preflight_org_plan"),
            models.Index(fields=["user", "created_at"], name="preflight_user_started",
                         condition=Q(status="started")),
            models.Index(fields=["created_at"], name="preflight_started_age",
                         condition=Q(status="started")),
            # The one-run-per-org trigger looks for the org's started preflight.
            models.Index(fields=["org_id"], name="preflight_org_started",
                         condition=Q(status="started")),
            models.Index(fields=["created_at"], name="preflight_old_exception",
                         condition=Q(exception__isnull=False)),
            models.Index(fields=["created_at"], name="preflight_old_log", condition=~Q(log="")),
        ]

    @property
    def error_count(self) -> int:
        return self._count("error")

    @property
    def warning_count(self) -> int:
        return self._count("warn")

    def _count(self, status: str) -> int:
        if self.status == Status.STARTED:
            return 0
        return sum(
            1
            for entries in (self.results or {}).values()
            for entry in entries
            if isinstance(entry, dict) and entry.get("status") == status
        )

    @property
    def is_ready(self) -> bool:
        return self.is_valid and self.status == Status.COMPLETE and self.error_count == 0


class ScratchOrg(HashIdModel):
    """A short-lived org created for one plan; its uuid in the session is the credential."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="scratch_orgs")
    # Kept only until creation starts, encrypted meanwhile: a dump holds no requester's address.
    email = EncryptedTextField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    job_id = models.BigIntegerField(null=True, blank=True)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(auto_now=True)
    status = models.CharField(max_length=64, choices=Status.choices, default=Status.STARTED)
    config = models.JSONField(null=True, blank=True)
    org_id = models.CharField(max_length=18, null=True, blank=True, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # A Dev Hub scratch org's tokens (config holds the rest): encrypted, as users' tokens.
    access_token = EncryptedTextField(null=True, blank=True)
    refresh_token = EncryptedTextField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["expires_at"], name="scratchorg_expiry",
                         condition=Q(expires_at__isnull=False)),
            # expire_scratch_orgs also removes failed orgs and orgs whose creation died.
            models.Index(fields=["id"], name="scratchorg_unfinished",
                         condition=Q(status__in=["started", "failed"])),
        ]


class SharedDirectory(models.Model):
    """A directory every host must share (named by its setting), and the marker written into
    it when a host first used it: a host that finds another marker, or none, is not looking
    at the same storage (runs/shared_storage.py checks it at start-up)."""

    setting = models.CharField(max_length=64, primary_key=True)
    marker = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
