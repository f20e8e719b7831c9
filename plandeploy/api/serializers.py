"""Representations of the public API, shaped like the reference system's (section 2).

Translatable text is read through parler's model attributes, so the language that
LocaleMiddleware activated (from Accept-Language) decides what a client sees.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Q
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from plandeploy.accounts.models import FullOrgType
from plandeploy.api import sessions
from plandeploy.catalog.markdown import render
from plandeploy.catalog.models import Plan, Product, ProductCategory, SiteProfile, Step, Version
from plandeploy.hashids import HashIdModel
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status

HASHID_SCHEMA = {"type": "string", "description": "a short public id"}

KIND_ICONS = {
    "metadata": "package",
    "onetime": "apex",
    "managed": "archive",
    "data": "paste",
    "other": "file",
}


@extend_schema_field(HASHID_SCHEMA)
class HashIdRelatedField(serializers.PrimaryKeyRelatedField):
    """A related object named by its short public id."""

    default_error_messages = {
        "does_not_exist": 'Invalid pk "{pk_value}" - object does not exist.',
        "incorrect_type": "Incorrect type. Expected pk value, received {data_type}.",
    }

    def to_internal_value(self, data: Any) -> HashIdModel:
        if not isinstance(data, str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        pk = HashIdModel.pk_from_hashid(data)
        if pk is None:
            self.fail("does_not_exist", pk_value=data)
        try:
            return self.get_queryset().get(pk=pk)
        except self.get_queryset().model.DoesNotExist:
            self.fail("does_not_exist", pk_value=data)

    def to_representation(self, value: Any) -> str:
        from plandeploy.hashids import encode

        return encode(value.pk)


def tr(obj: Any, name: str) -> str:
    """A translated field in the active language, falling back to any language there is."""
    if obj is None:
        return ""
    return obj.safe_translation_getter(name, default="", any_language=True) or ""


@extend_schema_field({"type": "string"})
class TranslatedField(serializers.ReadOnlyField):
    """A parler field read with fallbacks, so a missing translation is "" and never an error."""

    def get_attribute(self, instance: Any) -> str:
        *path, name = self.source_attrs
        for attr in path:
            instance = getattr(instance, attr)
        return tr(instance, name)


def _user(context: dict):
    request = context.get("request")
    return getattr(request, "user", None)


class StepSerializer(serializers.Serializer):
    id = serializers.CharField(source="hashid", read_only=True)
    name = TranslatedField()
    description = TranslatedField()
    is_required = serializers.BooleanField(read_only=True)
    is_recommended = serializers.BooleanField(read_only=True)
    kind = serializers.CharField(source="get_kind_display", read_only=True)
    kind_icon = serializers.SerializerMethodField()

    def get_kind_icon(self, obj: Step) -> str:
        return KIND_ICONS.get(obj.kind, "file")


class PlanSerializer(serializers.Serializer):
    """A plan; `steps` and `preflight_message` only for those allowed to see the plan."""

    id = serializers.CharField(source="hashid", read_only=True)
    title = TranslatedField()
    version = serializers.SerializerMethodField()
    preflight_message = serializers.SerializerMethodField()
    tier = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True, allow_null=True)
    old_slugs = serializers.ListField(child=serializers.CharField(), read_only=True)
    order_key = serializers.IntegerField(read_only=True)
    steps = serializers.SerializerMethodField()
    is_allowed = serializers.SerializerMethodField()
    is_listed = serializers.BooleanField(read_only=True)
    not_allowed_instructions = serializers.SerializerMethodField()
    average_duration = serializers.IntegerField(
        source="calculated_average_duration", read_only=True, allow_null=True
    )
    requires_preflight = serializers.BooleanField(read_only=True)
    supported_orgs = serializers.CharField(read_only=True)
    scratch_org_duration = serializers.IntegerField(read_only=True)

    def _visible(self, obj: Plan) -> bool:
        user = _user(self.context)
        return obj.is_visible_to(user) and obj.version.product.is_visible_to(user)

    def get_version(self, obj: Plan) -> str:
        return obj.version.hashid

    def get_preflight_message(self, obj: Plan) -> str | None:
        if not self._visible(obj):
            return None
        return render(tr(obj.plan_template, "preflight_message")) + render(
            tr(obj, "preflight_message_additional")
        )

    @extend_schema_field(StepSerializer(many=True, allow_null=True))
    def get_steps(self, obj: Plan) -> list | None:
        if not self._visible(obj):
            return None
        return StepSerializer(obj.steps.all(), many=True, context=self.context).data

    def get_is_allowed(self, obj: Plan) -> bool:
        return obj.is_visible_to(_user(self.context))

    def get_not_allowed_instructions(self, obj: Plan) -> str | None:
        product = obj.version.product
        if not product.is_visible_to(_user(self.context)):
            return render(product.visible_to.description) if product.visible_to else None
        return render(obj.visible_to.description) if obj.visible_to else None


def _listed_plan(version: Version, tier: str) -> Plan | None:
    candidates = [plan for plan in version.plans.all() if plan.is_listed and plan.tier == tier]
    return max(candidates, key=lambda plan: plan.created_at) if candidates else None


class VersionSerializer(serializers.Serializer):
    id = serializers.CharField(source="hashid", read_only=True)
    product = serializers.SerializerMethodField()
    label = serializers.CharField(read_only=True)
    description = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    primary_plan = serializers.SerializerMethodField()
    secondary_plan = serializers.SerializerMethodField()
    is_listed = serializers.BooleanField(read_only=True)

    def get_product(self, obj: Version) -> str:
        return obj.product.hashid

    def get_description(self, obj: Version) -> str:
        return render(tr(obj, "description"))

    @extend_schema_field(PlanSerializer(allow_null=True))
    def get_primary_plan(self, obj: Version) -> dict | None:
        plan = _listed_plan(obj, "primary")
        return PlanSerializer(plan, context=self.context).data if plan else None

    @extend_schema_field(PlanSerializer(allow_null=True))
    def get_secondary_plan(self, obj: Version) -> dict | None:
        plan = _listed_plan(obj, "secondary")
        return PlanSerializer(plan, context=self.context).data if plan else None


class ProductSerializer(serializers.Serializer):
    """A product; `description` only for those allowed to see it."""

    id = serializers.CharField(source="hashid", read_only=True)
    title = TranslatedField()
    description = serializers.SerializerMethodField()
    short_description = TranslatedField()
    click_through_agreement = serializers.SerializerMethodField()
    category = TranslatedField(source="category.title")
    color = serializers.CharField(read_only=True)
    icon = serializers.SerializerMethodField()
    image = serializers.SerializerMethodField()
    most_recent_version = serializers.SerializerMethodField()
    slug = serializers.CharField(read_only=True, allow_null=True)
    old_slugs = serializers.ListField(child=serializers.CharField(), read_only=True)
    is_allowed = serializers.SerializerMethodField()
    is_listed = serializers.BooleanField(read_only=True)
    order_key = serializers.IntegerField(read_only=True)
    not_allowed_instructions = serializers.SerializerMethodField()
    layout = serializers.SerializerMethodField()

    def get_description(self, obj: Product) -> str | None:
        if not obj.is_visible_to(_user(self.context)):
            return None
        return render(tr(obj, "description"))

    def get_click_through_agreement(self, obj: Product) -> str:
        return render(tr(obj, "click_through_agreement"))

    @extend_schema_field({"type": "object", "nullable": True})
    def get_icon(self, obj: Product) -> dict | None:
        return {"type": "url", "url": obj.icon_url} if obj.icon_url else None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_image(self, obj: Product) -> None:
        return None

    @extend_schema_field(VersionSerializer(allow_null=True))
    def get_most_recent_version(self, obj: Product) -> dict | None:
        listed = [version for version in obj.versions.all() if version.is_listed]
        if not listed:
            return None
        latest = max(listed, key=lambda version: version.created_at)
        return VersionSerializer(latest, context=self.context).data

    def get_is_allowed(self, obj: Product) -> bool:
        return obj.is_visible_to(_user(self.context))

    def get_not_allowed_instructions(self, obj: Product) -> str | None:
        return render(obj.visible_to.description) if obj.visible_to else None

    def get_layout(self, obj: Product) -> str:
        return "Default"


class ProductCategorySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    title = TranslatedField()
    description = serializers.SerializerMethodField()
    is_listed = serializers.BooleanField(read_only=True)
    first_page = serializers.SerializerMethodField()

    def get_description(self, obj: ProductCategory) -> str:
        return render(tr(obj, "description"))

    @extend_schema_field({"type": "object"})
    def get_first_page(self, obj: ProductCategory) -> dict:
        first_page = self.context.get("first_pages", {}).get(obj.pk)
        return first_page or {"count": 0, "next": None, "previous": None, "results": []}


class UserSerializer(serializers.Serializer):
    id = serializers.CharField(source="hashid", read_only=True)
    username = serializers.SerializerMethodField()
    email = serializers.CharField(read_only=True)
    valid_token_for = serializers.CharField(read_only=True, allow_null=True)
    org_name = serializers.CharField(read_only=True, allow_null=True)
    org_type = serializers.CharField(read_only=True, allow_null=True)
    is_production_org = serializers.SerializerMethodField()
    is_staff = serializers.BooleanField(read_only=True)

    def get_username(self, obj) -> str:
        return obj.sf_username or obj.username

    def get_is_production_org(self, obj) -> bool:
        return obj.full_org_type == FullOrgType.PRODUCTION


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
        user = _user(self.context)
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
        latest = (
            Version.objects.filter(product_id=obj.plan.version.product_id, is_listed=True)
            .order_by("-created_at")
            .values_list("pk", flat=True)
            .first()
        )
        return latest == obj.plan.version_id

    def get_error_count(self, obj: Job) -> int:
        return 0 if obj.status == Status.STARTED else _count(obj.results, "error")

    def get_warning_count(self, obj: Job) -> int:
        return 0 if obj.status == Status.STARTED else _count(obj.results, "warn")

    def get_user_can_edit(self, obj: Job) -> bool:
        return self._has_rights(obj, include_staff=False)

    def get_message(self, obj: Job) -> str:
        return render(tr(obj.plan.plan_template, "post_install_message")) + render(
            tr(obj.plan, "post_install_message_additional")
        )

    def get_error_message(self, obj: Job) -> str:
        return render(
            tr(obj.plan.plan_template, "error_message")
            or tr(obj.plan.version.product, "error_message")
        )


class JobCreateSerializer(serializers.Serializer):
    """Input of POST /api/jobs/; `validate` applies the reference's checks in its order."""

    plan = HashIdRelatedField(queryset=Plan.objects.select_related("version__product"))
    steps = HashIdRelatedField(queryset=Step.objects.all(), many=True)
    is_public = serializers.BooleanField(required=False, default=False)
    results = serializers.JSONField(required=False, default=dict)

    def validate_plan(self, plan: Plan) -> Plan:
        user = _user(self.context)
        if not plan.is_visible_to(user):
            raise serializers.ValidationError("You are not allowed to install this plan.")
        if not plan.version.product.is_visible_to(user):
            raise serializers.ValidationError("You are not allowed to install this product.")
        return plan

    def validate(self, data: dict) -> dict:
        request = self.context["request"]
        user = request.user
        plan: Plan = data["plan"]
        steps: list[Step] = data["steps"]
        scratch_org = None
        if user.is_authenticated:
            org_id = user.org_id
        else:
            # W27: a scratch session may install only its own org's plan.
            scratch_org = sessions.session_scratch_org(request, plan_id=plan.pk, complete=True)
            org_id = scratch_org.org_id if scratch_org else None
        if not org_id:
            raise serializers.ValidationError("No valid org.")

        preflight = None
        if plan.requires_preflight:
            preflight = (
                PreflightResult.objects.filter(
                    org_id=org_id, plan=plan, is_valid=True, status=Status.COMPLETE
                )
                .order_by("-created_at")
                .first()
            )
            if preflight is None or preflight.error_count > 0:
                raise serializers.ValidationError("No valid preflight.")

        plan_steps = {step.pk: step for step in plan.steps.all()}
        chosen = {step.pk for step in steps}
        if not chosen <= plan_steps.keys():
            raise serializers.ValidationError("Invalid steps for plan.")
        optional = _optional_step_ids(preflight.results if preflight else {}, plan_steps)
        required = {pk for pk, step in plan_steps.items() if step.is_required} - optional
        if not required <= chosen:
            raise serializers.ValidationError("Invalid steps for plan.")

        if not _valid_initial_results(data.get("results"), plan_steps):
            raise serializers.ValidationError("Invalid initial results.")

        pending = (
            Job.objects.filter(org_id=org_id, status=Status.STARTED)
            .values_list("pk", flat=True)
            .first()
        )
        if pending is not None:
            raise serializers.ValidationError(pending_job_message(Job(pk=pending).hashid))

        if user.is_authenticated and not user.valid_token_for:
            raise serializers.ValidationError(
                "The connection to your org has been lost. Please log in again."
            )
        data["scratch_org"] = scratch_org
        return data


def pending_job_message(job_hashid: str | None) -> str:
    return f"Pending job {job_hashid} exists. Please try again later, or cancel that job."


_OPTIONAL_STATUSES = {"optional", "hide", "skip"}


def _optional_step_ids(results: dict, plan_steps: dict[int, Step]) -> set[int]:
    by_hashid = {step.hashid: pk for pk, step in plan_steps.items()}
    optional = set()
    for key, entries in (results or {}).items():
        if key in by_hashid and isinstance(entries, list) and any(
            isinstance(entry, dict) and entry.get("status") in _OPTIONAL_STATUSES
            for entry in entries
        ):
            optional.add(by_hashid[key])
    return optional


def _valid_initial_results(results: Any, plan_steps: dict[int, Step]) -> bool:
    """Clients may only pre-hide steps of this plan: {"<step id>": [{"status": "hide"}]}."""
    if results in (None, {}):
        return True
    if not isinstance(results, dict):
        return False
    hashids = {step.hashid for step in plan_steps.values()}
    for key, entries in results.items():
        if key not in hashids or not isinstance(entries, list):
            return False
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("status") != "hide":
                return False
    return True


class JobUpdateSerializer(serializers.Serializer):
    """PATCH/PUT of a job: only `is_public` may change (W27: plan and steps are fixed)."""

    is_public = serializers.BooleanField()

    def validate(self, data: dict) -> dict:
        fixed = sorted(
            key for key in self.initial_data if key in {"plan", "steps", "results", "user"}
        ) if isinstance(self.initial_data, dict) else []
        if fixed:
            raise serializers.ValidationError(
                {key: ["This field cannot be changed."] for key in fixed}
            )
        if not self.instance.org_id:
            raise serializers.ValidationError("No valid org.")
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
    """A scratch org; `email` is write-only and used once by create_scratch_org."""

    id = serializers.CharField(source="hashid", read_only=True)
    plan = serializers.SerializerMethodField()
    email = serializers.EmailField(write_only=True, max_length=254)
    enqueued_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    edited_at = serializers.DateTimeField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True, allow_null=True)
    status = serializers.CharField(read_only=True)
    org_id = serializers.CharField(read_only=True, allow_null=True)
    uuid = serializers.UUIDField(read_only=True)

    def get_plan(self, obj: ScratchOrg) -> str:
        return obj.plan.hashid


class CurrentJobSerializer(serializers.Serializer):
    id = serializers.CharField(source="hashid")
    product_slug = serializers.CharField(source="plan.version.product.slug")
    version_label = serializers.CharField(source="plan.version.label")
    plan_slug = serializers.CharField(source="plan.slug")
    plan_average_duration = serializers.IntegerField(
        source="plan.calculated_average_duration", allow_null=True
    )


class OrgConnectSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=255, allow_blank=False)


class SiteSerializer(serializers.Serializer):
    name = TranslatedField()
    company_name = TranslatedField()
    welcome_text = serializers.SerializerMethodField()
    master_agreement = serializers.SerializerMethodField()
    copyright_notice = serializers.SerializerMethodField()
    product_logo = serializers.CharField()

    def get_welcome_text(self, obj: SiteProfile) -> str:
        return render(tr(obj, "welcome_text"))

    def get_master_agreement(self, obj: SiteProfile) -> str:
        return render(tr(obj, "master_agreement"))

    def get_copyright_notice(self, obj: SiteProfile) -> str:
        return render(tr(obj, "copyright_notice"))


def bootstrap_data() -> dict:
    from django.utils import timezone

    site = SiteProfile.objects.first()
    return {
        "PREFLIGHT_LIFETIME_MINUTES": settings.PREFLIGHT_LIFETIME_MINUTES,
        "TOKEN_LIFETIME_MINUTES": settings.TOKEN_LIFETIME_MINUTES,
        "SITE": SiteSerializer(site).data if site else None,
        "YEAR": timezone.now().year,
        "SENTRY_DSN": None,
        "SCRATCH_ORGS_AVAILABLE": bool(settings.SCRATCH_ORGS_ENABLED),
    }


def visible_products_filter(user) -> Q:
    """Products a listing shows: listed, with a listed version."""
    return Q(is_listed=True, versions__is_listed=True)
