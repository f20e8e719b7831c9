"""Plan runs, preflights and scratch orgs as the public API shows them, and job input."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from plandeploy.accounts.models import FullOrgType
from plandeploy.api import sessions
from plandeploy.api.cached import catalogue_plan_by_pk, latest_listed_version_id
from plandeploy.api.serializers.fields import (
    HASHID_SCHEMA,
    HashIdManyField,
    HashIdRelatedField,
    request_user,
)
from plandeploy.catalog import cache
from plandeploy.catalog.markdown import render
from plandeploy.catalog.models import Plan, Step
from plandeploy.catalog.texts import tr
from plandeploy.hashids import decode, encode
from plandeploy.runs import services
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status


def _count(results: dict, status: str) -> int:
    return sum(
        1
        for entries in (results or {}).values()
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict) and entry.get("status") == status
    )


class JobSerializer(serializers.Serializer):
    """A job as its viewer may see it: org details only for its owner, staff or its session."""

    id = serializers.CharField(source="hashid", read_only=True)
    creator = serializers.SerializerMethodField()
    plan = serializers.SerializerMethodField()
    steps = serializers.SerializerMethodField()
    instance_url = serializers.SerializerMethodField()
    org_id = serializers.SerializerMethodField()
    results = serializers.JSONField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    edited_at = serializers.DateTimeField(read_only=True)
    enqueued_at = serializers.DateTimeField(read_only=True, allow_null=True)
    job_id = serializers.SerializerMethodField()
    status = serializers.CharField(read_only=True)
    org_name = serializers.SerializerMethodField()
    org_type = serializers.CharField(read_only=True)
    is_production_org = serializers.SerializerMethodField()
    product_slug = serializers.CharField(source="plan.version.product.slug", read_only=True)
    version_label = serializers.CharField(source="plan.version.label", read_only=True)
    version_is_most_recent = serializers.SerializerMethodField()
    plan_slug = serializers.CharField(source="plan.slug", read_only=True)
    error_count = serializers.SerializerMethodField()
    warning_count = serializers.SerializerMethodField()
    is_public = serializers.BooleanField(read_only=True)
    user_can_edit = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()
    error_message = serializers.SerializerMethodField()

    def _session_org_id(self) -> str | None:
        if "_session_org_id" not in self.context:
            request = self.context.get("request")
            self.context["_session_org_id"] = (
                sessions.session_scratch_org_id(request) if request is not None else None
            )
        return self.context["_session_org_id"]

    def _has_rights(self, obj: Job, include_staff: bool = True) -> bool:
        user = request_user(self.context)
        if obj.user_id is not None:
            if not (user and user.is_authenticated):
                return False
            return obj.user_id == user.pk or (include_staff and user.is_staff)
        session_org_id = self._session_org_id()
        return bool(obj.org_id) and session_org_id == obj.org_id

    @extend_schema_field({"type": "object", "nullable": True})
    def get_creator(self, obj: Job) -> dict | None:
        if obj.user is None or not self._has_rights(obj):
            return None
        return {"username": obj.user.sf_username or obj.user.username,
                "is_staff": obj.user.is_staff}

    @extend_schema_field(HASHID_SCHEMA)
    def get_plan(self, obj: Job) -> str:
        return obj.plan.hashid

    def get_steps(self, obj: Job) -> list[str]:
        return [step.hashid for step in obj.steps.all()]

    def get_instance_url(self, obj: Job) -> str | None:
        return (obj.user.instance_url if obj.user else None) if self._has_rights(obj) else None

    def get_org_id(self, obj: Job) -> str | None:
        return obj.org_id if self._has_rights(obj) else None

    def get_org_name(self, obj: Job) -> str | None:
        return (obj.user.org_name if obj.user else None) if self._has_rights(obj) else None

    def get_job_id(self, obj: Job) -> str | None:
        return str(obj.job_id) if obj.job_id is not None else None

    def get_is_production_org(self, obj: Job) -> bool:
        return obj.full_org_type == FullOrgType.PRODUCTION

    def get_version_is_most_recent(self, obj: Job) -> bool:
        # From the catalogue cache when the request read the catalogue version (the job
        # reads do): the version, not the cache, decides what is current.
        version = getattr(self.context.get("request"), "catalogue_version", None)
        return _is_most_recent(obj.plan, version)

    def get_error_count(self, obj: Job) -> int:
        return 0 if obj.status == Status.STARTED else _count(obj.results, "error")

    def get_warning_count(self, obj: Job) -> int:
        return 0 if obj.status == Status.STARTED else _count(obj.results, "warn")

    def get_user_can_edit(self, obj: Job) -> bool:
        return self._has_rights(obj, include_staff=False)

    def get_message(self, obj: Job) -> str:
        return _message(obj.plan)

    def get_error_message(self, obj: Job) -> str:
        return _error_message(obj.plan)


def _is_most_recent(plan: Plan, catalogue_version: int | None) -> bool:
    return latest_listed_version_id(plan.version.product_id, catalogue_version) == plan.version_id


def _message(plan: Plan) -> str:
    return render(tr(plan.plan_template, "post_install_message")) + render(
        tr(plan, "post_install_message_additional")
    )


def _error_message(plan: Plan) -> str:
    return render(
        tr(plan.plan_template, "error_message") or tr(plan.version.product, "error_message")
    )


def _text(value: object) -> str | None:
    # As a read-only CharField shows a value: None stays None.
    return None if value is None else str(value)


_datetime = serializers.DateTimeField(read_only=True)


def job_plan_fields(plan: Plan, catalogue_version: int | None) -> dict:
    """What JobSerializer shows of a job's plan: the same for every job of the plan, so it is
    built once per catalogue version and language (api.cached.job_plan_fields)."""
    version = plan.version
    return {
        "plan": plan.hashid,
        "product_slug": _text(version.product.slug),
        "version_label": _text(version.label),
        "version_is_most_recent": _is_most_recent(plan, catalogue_version),
        "plan_slug": _text(plan.slug),
        "message": _message(plan),
        "error_message": _error_message(plan),
    }


def job_representation(
    job: Job, step_ids: list[int], plan_fields: dict, user, session_org_id: str | None
) -> dict:
    """JobSerializer's representation of `job` for `user` (and the session holding the
    scratch org `session_org_id`), built directly: DRF's per-field copies and lookups cost
    more than the job's query. Always equal to JobSerializer's, key order included (a test
    compares them for every kind of job and viewer); `plan_fields` is job_plan_fields.
    """
    authenticated = bool(user and user.is_authenticated)
    if job.user_id is not None:
        owner = authenticated and job.user_id == user.pk
        rights, can_edit = owner or (authenticated and user.is_staff), owner
    else:
        rights = can_edit = bool(job.org_id) and session_org_id == job.org_id
    creator = job.user
    results = job.results
    counted = job.status != Status.STARTED
    return {
        "id": _text(job.hashid),
        "creator": ({"username": creator.sf_username or creator.username,
                     "is_staff": creator.is_staff}
                    if creator is not None and rights else None),
        "plan": plan_fields["plan"],
        "steps": [encode(pk) for pk in step_ids],
        "instance_url": (creator.instance_url if creator else None) if rights else None,
        "org_id": job.org_id if rights else None,
        "results": results,
        "created_at": _datetime.to_representation(job.created_at),
        "edited_at": _datetime.to_representation(job.edited_at),
        "enqueued_at": _datetime.to_representation(job.enqueued_at),
        "job_id": str(job.job_id) if job.job_id is not None else None,
        "status": _text(job.status),
        "org_name": (creator.org_name if creator else None) if rights else None,
        "org_type": _text(job.org_type),
        "is_production_org": job.full_org_type == FullOrgType.PRODUCTION,
        "product_slug": plan_fields["product_slug"],
        "version_label": plan_fields["version_label"],
        "version_is_most_recent": plan_fields["version_is_most_recent"],
        "plan_slug": plan_fields["plan_slug"],
        "error_count": _count(results, "error") if counted else 0,
        "warning_count": _count(results, "warn") if counted else 0,
        "is_public": None if job.is_public is None else bool(job.is_public),
        "user_can_edit": can_edit,
        "message": plan_fields["message"],
        "error_message": plan_fields["error_message"],
    }


@extend_schema_field(HASHID_SCHEMA)
class CataloguePlanField(HashIdRelatedField):
    """A plan by its public id, from the catalogue cache: the run's checks and its response
    then read nothing more about the plan."""

    def __init__(self, **kwargs) -> None:
        super().__init__(queryset=Plan.objects.none(), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        pk = decode(data)
        # Kept on the request: the response reads the cache at the same version.
        request = self.context.get("request")
        version = cache.request_version(request) if request is not None else cache.current_version()
        plan = catalogue_plan_by_pk(pk, version) if pk is not None else None
        if plan is None:
            self.fail("does_not_exist", pk_value=data)
        # For the steps field, which takes the plan's steps from it.
        self.context["catalogue_plan"] = plan
        return plan


class PlanStepsField(HashIdManyField):
    """Steps by their public ids: those of the request's plan come from the catalogue cache,
    with the plan (CataloguePlanField, declared before this field); any other is looked up,
    all in one query (runs.services.request_job refuses a step of another plan)."""

    def lookup(self, pks: list[int]) -> dict[int, Step]:
        plan = self.context.get("catalogue_plan")  # None when the plan field failed
        if plan is not None:
            known = {step.pk: step for step in plan.steps.all()}
            if all(pk in known for pk in pks):
                return known
        return super().lookup(pks)


class JobCreateSerializer(serializers.Serializer):
    """Input of POST /api/jobs/: its shape only; runs.services.request_job admits the run."""

    plan = CataloguePlanField()
    steps = PlanStepsField(child_relation=HashIdRelatedField(queryset=Step.objects.all()))
    is_public = serializers.BooleanField(required=False, default=False)
    results = serializers.JSONField(required=False, default=dict)

    def validate_plan(self, plan: Plan) -> Plan:
        # A field error, so that it is reported together with the other fields' errors.
        try:
            services.check_may_install(plan, self.context["request"].user)
        except services.PlanNotAllowed as refused:
            raise serializers.ValidationError(str(refused)) from None
        return plan


class JobUpdateSerializer(serializers.Serializer):
    """PATCH/PUT of a job: only `is_public` may change, so a run cannot be re-pointed."""

    is_public = serializers.BooleanField()

    def validate(self, data: dict) -> dict:
        fixed = sorted(
            key for key in self.initial_data if key in {"plan", "steps", "results", "user"}
        ) if isinstance(self.initial_data, dict) else []
        if fixed:
            raise serializers.ValidationError(
                {key: ["This field cannot be changed."] for key in fixed}
            )
        return data


class PreflightResultSerializer(serializers.Serializer):
    id = serializers.SerializerMethodField()
    instance_url = serializers.SerializerMethodField()
    org_id = serializers.CharField(read_only=True, allow_null=True)
    user = serializers.SerializerMethodField()
    plan = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    edited_at = serializers.DateTimeField(read_only=True)
    is_valid = serializers.BooleanField(read_only=True)
    status = serializers.CharField(read_only=True)
    results = serializers.JSONField(read_only=True)
    error_count = serializers.IntegerField(read_only=True)
    warning_count = serializers.IntegerField(read_only=True)
    is_ready = serializers.BooleanField(read_only=True)

    def get_id(self, obj: PreflightResult) -> str:
        return str(obj.pk)

    def get_instance_url(self, obj: PreflightResult) -> str | None:
        return obj.user.instance_url if obj.user_id else None

    def get_user(self, obj: PreflightResult) -> str | None:
        return obj.user.hashid if obj.user_id else None

    def get_plan(self, obj: PreflightResult) -> str:
        return obj.plan.hashid


class ScratchOrgSerializer(serializers.Serializer):
    """A scratch org; `email` is write-only and used once by create_scratch_org.

    `uuid` is the org's bearer credential: it is shown once, to the client whose POST
    created the org (to share the org's link), and left out of every other answer.
    """

    id = serializers.CharField(source="hashid", read_only=True)
    plan = serializers.SerializerMethodField()
    email = serializers.EmailField(write_only=True, max_length=254)
    enqueued_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    edited_at = serializers.DateTimeField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True, allow_null=True)
    status = serializers.CharField(read_only=True)
    org_id = serializers.CharField(read_only=True, allow_null=True)
    uuid = serializers.UUIDField(read_only=True, required=False)

    def get_plan(self, obj: ScratchOrg) -> str:
        return obj.plan.hashid

    def to_representation(self, instance: ScratchOrg) -> dict:
        data = super().to_representation(instance)
        if not self.context.get("show_uuid"):
            data.pop("uuid", None)
        return data


class ScratchOrgClaimSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()


class CurrentJobSerializer(serializers.Serializer):
    id = serializers.CharField(source="hashid")
    product_slug = serializers.CharField(source="plan.version.product.slug")
    version_label = serializers.CharField(source="plan.version.label")
    plan_slug = serializers.CharField(source="plan.slug")
    plan_average_duration = serializers.IntegerField(
        source="plan.calculated_average_duration", allow_null=True
    )
