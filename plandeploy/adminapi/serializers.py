"""Admin API serializers: every object carries `id` and `url`; relations are written as urls."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework import serializers
from rest_framework.reverse import reverse

from plandeploy.catalog.models import (
    AllowedList,
    AllowedListOrg,
    Plan,
    PlanSlug,
    PlanTemplate,
    Product,
    ProductCategory,
    ProductSlug,
    Step,
    StepKind,
    Version,
)
from plandeploy.catalog.signals import plan_published
from plandeploy.catalog.slugs import ensure_plan_slug, ensure_product_slug
from plandeploy.hashids import HashIdModel, decode

# The route basename of each model, as existing admin API clients name them.
BASENAMES: dict[type, str] = {
    Product: "product",
    ProductSlug: "productslug",
    ProductCategory: "productcategory",
    Version: "version",
    PlanTemplate: "plantemplate",
    PlanSlug: "planslug",
    Plan: "plan",
    AllowedList: "allowedlist",
    AllowedListOrg: "allowedlistorg",
}


def public_id(obj: Any) -> str:
    return obj.hashid if isinstance(obj, HashIdModel) else str(obj.pk)


def pk_from_public_id(model: type, value: str) -> int | None:
    if issubclass(model, HashIdModel):
        return decode(value)
    return int(value) if value.isdigit() and len(value) < 19 else None


class ObjectUrlField(serializers.HyperlinkedIdentityField):
    def get_url(self, obj, view_name, request, format):
        return reverse(view_name, kwargs={"pk": public_id(obj)}, request=request)


class RelatedUrlField(serializers.HyperlinkedRelatedField):
    """A related object written and read as its admin API url."""

    def get_url(self, obj, view_name, request, format):
        return reverse(view_name, kwargs={"pk": public_id(obj)}, request=request)

    def get_object(self, view_name, view_args, view_kwargs):
        queryset = self.get_queryset()
        pk = pk_from_public_id(queryset.model, str(view_kwargs.get("pk", "")))
        if pk is None:
            raise queryset.model.DoesNotExist
        return queryset.get(pk=pk)


def url_field(model: type, **kwargs) -> RelatedUrlField:
    return RelatedUrlField(
        view_name=f"adminapi:{BASENAMES[model]}-detail", queryset=model.objects.all(), **kwargs
    )


class AdminSerializer(serializers.ModelSerializer):
    """Refuses unknown fields (a typo must not be silently dropped) and writes through parler."""

    id = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    def get_id(self, obj) -> str:
        return public_id(obj)

    def get_url(self, obj) -> str:
        name = f"adminapi:{BASENAMES[type(obj)]}-detail"
        return reverse(name, kwargs={"pk": public_id(obj)}, request=self.context.get("request"))

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}
                )
        return super().to_internal_value(data)


def _text(**kwargs) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, **kwargs)


class ProductCategorySerializer(AdminSerializer):
    title = serializers.CharField(max_length=256)
    description = _text()

    class Meta:
        model = ProductCategory
        fields = ("id", "url", "title", "description", "order_key", "is_listed")


class AllowedListSerializer(AdminSerializer):
    class Meta:
        model = AllowedList
        fields = ("id", "url", "title", "description", "org_type", "list_for_allowed_by_orgs")


class AllowedListOrgSerializer(AdminSerializer):
    allowed_list = url_field(AllowedList)

    class Meta:
        model = AllowedListOrg
        fields = ("id", "url", "allowed_list", "org_id", "description", "created_at")
        read_only_fields = ("created_at",)


class ProductSerializer(AdminSerializer):
    title = serializers.CharField(max_length=256)
    short_description = _text()
    description = _text()
    click_through_agreement = _text()
    error_message = _text()
    category = url_field(ProductCategory)
    visible_to = url_field(AllowedList, required=False, allow_null=True)
    slug = serializers.SlugField(required=False, max_length=256)

    class Meta:
        model = Product
        fields = (
            "id", "url", "title", "short_description", "description",
            "click_through_agreement", "error_message", "category", "repo_url", "color",
            "icon_url", "order_key", "is_listed", "visible_to", "slug", "created_at",
        )
        read_only_fields = ("created_at",)

    def validate_slug(self, value: str) -> str:
        taken = ProductSlug.objects.filter(slug=value)
        if self.instance is not None:
            taken = taken.exclude(parent=self.instance)
        if taken.exists():
            raise serializers.ValidationError("This slug is already in use.")
        return value

    @transaction.atomic
    def create(self, validated_data: dict) -> Product:
        slug = validated_data.pop("slug", None)
        product = super().create(validated_data)
        if slug:
            ProductSlug.objects.create(parent=product, slug=slug)
        else:
            ensure_product_slug(product)
        return product

    @transaction.atomic
    def update(self, instance: Product, validated_data: dict) -> Product:
        slug = validated_data.pop("slug", None)
        product = super().update(instance, validated_data)
        if slug and slug != product.slug:
            ProductSlug.objects.create(parent=product, slug=slug)
        elif not slug:
            ensure_product_slug(product)
        return product


class ProductSlugSerializer(AdminSerializer):
    parent = url_field(Product)

    class Meta:
        model = ProductSlug
        fields = ("id", "url", "slug", "parent", "is_active")


class VersionSerializer(AdminSerializer):
    product = url_field(Product)
    description = _text()
    # The label is a part of the version's and its plans' page URLs.
    label = serializers.RegexField(
        r"^[a-zA-Z0-9._+-]+$", max_length=1024,
        error_messages={"invalid": "Use only letters, digits and . _ + -"},
    )

    class Meta:
        model = Version
        fields = ("id", "url", "product", "label", "description", "commit_ish",
                  "is_production", "is_listed", "created_at")
        read_only_fields = ("created_at",)


class PlanTemplateSerializer(AdminSerializer):
    product = url_field(Product)
    preflight_message = _text()
    post_install_message = _text()
    error_message = _text()

    class Meta:
        model = PlanTemplate
        fields = ("id", "url", "name", "product", "preflight_message", "post_install_message",
                  "error_message", "regression_test_opt_out")


class PlanSlugSerializer(AdminSerializer):
    parent = url_field(PlanTemplate)

    class Meta:
        model = PlanSlug
        fields = ("id", "url", "slug", "parent", "is_active")
        # The (parent, slug) constraint is reported by validate(), with a readable text.
        validators: list = []

    def validate(self, data: dict) -> dict:
        parent = data.get("parent", getattr(self.instance, "parent", None))
        slug = data.get("slug", getattr(self.instance, "slug", None))
        clash = PlanSlug.objects.filter(parent=parent, slug=slug)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError({"slug": ["This plan template has this slug."]})
        return data


class TaskConfigField(serializers.JSONField):
    """`{"options": {...}, "checks": [...]}`, both optional."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected an object.")
        if not isinstance(value.get("options", {}), dict):
            raise serializers.ValidationError({"options": "Expected an object."})
        checks = value.get("checks", [])
        if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
            raise serializers.ValidationError({"checks": "Expected a list of objects."})
        return value


class StepSerializer(serializers.ModelSerializer):
    id = serializers.SerializerMethodField()
    name = serializers.CharField(max_length=1024)
    description = _text()
    kind = serializers.ChoiceField(choices=StepKind.choices, required=False)
    task_config = TaskConfigField(required=False)
    source = serializers.JSONField(required=False, allow_null=True)

    class Meta:
        model = Step
        fields = ("id", "name", "description", "kind", "is_required", "is_recommended", "path",
                  "step_num", "task_class", "task_config", "source")

    def get_id(self, obj) -> str:
        return obj.hashid

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)

    def validate_source(self, value):
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError("Expected an object or null.")
        return value


class PlanSerializer(AdminSerializer):
    title = serializers.CharField(max_length=128)
    preflight_message_additional = _text()
    post_install_message_additional = _text()
    plan_template = url_field(PlanTemplate)
    version = url_field(Version)
    visible_to = url_field(AllowedList, required=False, allow_null=True)
    steps = StepSerializer(many=True, required=False)
    preflight_checks = serializers.JSONField(required=False)

    class Meta:
        model = Plan
        fields = (
            "id", "url", "title", "preflight_message_additional",
            "post_install_message_additional", "plan_template", "version", "commit_ish",
            "tier", "is_listed", "order_key", "preflight_checks", "supported_orgs",
            "org_config_name", "scratch_org_duration_override", "visible_to",
            "calculated_average_duration", "created_at", "steps",
        )
        read_only_fields = ("calculated_average_duration", "created_at")

    def validate_preflight_checks(self, value):
        if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
            raise serializers.ValidationError("Expected a list of objects.")
        return value

    def validate_steps(self, steps: list[dict]) -> list[dict]:
        if self.instance is not None:
            raise serializers.ValidationError("Steps cannot be changed after a plan is created.")
        numbers = [step["step_num"] for step in steps]
        if len(numbers) != len(set(numbers)):
            raise serializers.ValidationError("Each step needs its own step_num.")
        return steps

    def validate(self, data: dict) -> dict:
        template = data.get("plan_template", getattr(self.instance, "plan_template", None))
        version = data.get("version", getattr(self.instance, "version", None))
        if template is not None and version is not None and (
            template.product_id != version.product_id
        ):
            raise serializers.ValidationError(
                {"plan_template": ["The plan template and the version belong to different "
                                   "products."]}
            )
        visible_to = data.get("visible_to", getattr(self.instance, "visible_to", None))
        supported = data.get("supported_orgs", getattr(self.instance, "supported_orgs",
                                                       "Persistent"))
        if visible_to is not None and supported != "Persistent":
            raise serializers.ValidationError({"supported_orgs": [
                'Restricted plans (with a "visible to" AllowedList) can only support '
                "persistent org types."
            ]})
        return data

    def create(self, validated_data: dict) -> Plan:
        steps = validated_data.pop("steps", [])
        with transaction.atomic():
            plan = Plan.objects.create(**validated_data)
            ensure_plan_slug(plan)
            for step in steps:
                Step.objects.create(plan=plan, **step)
            if steps:
                transaction.on_commit(lambda: plan_published.send(sender=Plan, plan=plan))
        return plan
