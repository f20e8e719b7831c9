"""Catalogue representations (products, versions, plans, steps, site) as clients see them.

Translatable text is read through parler's model attributes, so the language that
LocaleMiddleware activated (from Accept-Language) decides what a client sees.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from plandeploy.api.serializers.fields import TranslatedField, request_user
from plandeploy.catalog.markdown import render
from plandeploy.catalog.models import Plan, Product, ProductCategory, SiteProfile, Step, Version
from plandeploy.catalog.texts import tr
from plandeploy.runs import scratch_requests

KIND_ICONS = {
    "metadata": "package",
    "onetime": "apex",
    "managed": "archive",
    "data": "paste",
    "other": "file",
}


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
        user = request_user(self.context)
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
        return obj.is_visible_to(request_user(self.context))

    def get_not_allowed_instructions(self, obj: Plan) -> str | None:
        product = obj.version.product
        if not product.is_visible_to(request_user(self.context)):
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
        if not obj.is_visible_to(request_user(self.context)):
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
        return obj.is_visible_to(request_user(self.context))

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
    site = SiteProfile.objects.first()
    return {
        "PREFLIGHT_LIFETIME_MINUTES": settings.PREFLIGHT_LIFETIME_MINUTES,
        "TOKEN_LIFETIME_MINUTES": settings.TOKEN_LIFETIME_MINUTES,
        "SITE": SiteSerializer(site).data if site else None,
        "YEAR": timezone.now().year,
        "SENTRY_DSN": None,
        "SCRATCH_ORGS_AVAILABLE": scratch_requests.available(),
    }
