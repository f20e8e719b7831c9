"""Products, versions, plan templates, plans and steps, with translatable text."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from parler.models import TranslatableModel, TranslatedFields

from plandeploy.accounts.models import FullOrgType
from plandeploy.hashids import HashIdModel


class AllowedList(models.Model):
    """Who may see a restricted product or plan: org types, or listed org ids."""

    title = models.CharField(max_length=128, unique=True)
    description = models.TextField(blank=True, default="")
    org_type = ArrayField(
        models.CharField(max_length=64, choices=FullOrgType.choices), blank=True, default=list
    )
    list_for_allowed_by_orgs = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.title

    def allows(self, user) -> bool:
        if not getattr(user, "is_authenticated", False):
            return False
        if user.is_superuser:
            return True
        if user.full_org_type and user.full_org_type in self.org_type:
            return True
        org_id = user.org_id
        return bool(org_id) and self.orgs.filter(org_id=org_id).exists()


class AllowedListOrg(models.Model):
    allowed_list = models.ForeignKey(AllowedList, on_delete=models.CASCADE, related_name="orgs")
    org_id = models.CharField(max_length=18)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["allowed_list", "org_id"], name="allowedlistorg_unique")
        ]


class ClickThroughAgreement(models.Model):
    """A snapshot of the agreement text a user accepted with a job."""

    text = models.TextField()


class SiteProfile(TranslatableModel):
    translations = TranslatedFields(
        name=models.CharField(max_length=64),
        company_name=models.CharField(max_length=64, blank=True, default=""),
        welcome_text=models.TextField(blank=True, default=""),
        master_agreement=models.TextField(blank=True, default=""),
        copyright_notice=models.TextField(blank=True, default=""),
    )
    product_logo = models.URLField(blank=True, default="")


class ProductCategory(TranslatableModel):
    translations = TranslatedFields(
        title=models.CharField(max_length=256),
        description=models.TextField(blank=True, default=""),
    )
    order_key = models.PositiveIntegerField(default=0)
    is_listed = models.BooleanField(default=True)

    class Meta:
        ordering = ("order_key",)
        verbose_name_plural = "product categories"


class Product(HashIdModel, TranslatableModel):
    translations = TranslatedFields(
        title=models.CharField(max_length=256),
        short_description=models.TextField(blank=True, default=""),
        description=models.TextField(blank=True, default=""),
        click_through_agreement=models.TextField(blank=True, default=""),
        error_message=models.TextField(blank=True, default=""),
    )
    category = models.ForeignKey(
        ProductCategory, on_delete=models.PROTECT, related_name="products"
    )
    repo_url = models.CharField(max_length=2048, blank=True, default="")
    color = models.CharField(max_length=7, blank=True, default="")
    icon_url = models.URLField(blank=True, default="")
    order_key = models.PositiveIntegerField(default=0)
    is_listed = models.BooleanField(default=True)
    visible_to = models.ForeignKey(
        AllowedList, null=True, blank=True, on_delete=models.PROTECT, related_name="products"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("category__order_key", "order_key")
        indexes = [models.Index(fields=["repo_url"], name="product_repo_url")]

    @property
    def slug(self) -> str | None:
        active = [slug for slug in self.productslug_set.all() if slug.is_active]
        return max(active, key=lambda slug: slug.id).slug if active else None

    @property
    def old_slugs(self) -> list[str]:
        current = self.slug
        return [slug.slug for slug in self.productslug_set.all() if slug.slug != current]

    def is_visible_to(self, user) -> bool:
        return self.visible_to is None or self.visible_to.allows(user)


class ProductSlug(models.Model):
    """Every slug a product has had; old slugs keep resolving."""

    parent = models.ForeignKey(Product, on_delete=models.CASCADE)
    slug = models.SlugField(max_length=256, unique=True)
    is_active = models.BooleanField(default=True)


class Version(HashIdModel, TranslatableModel):
    translations = TranslatedFields(description=models.TextField(blank=True, default=""))
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="versions")
    label = models.CharField(max_length=1024)
    commit_ish = models.CharField(max_length=256, default="main")
    is_production = models.BooleanField(default=True)
    is_listed = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=["product", "label"], name="version_unique_label")
        ]


class PlanTemplate(HashIdModel, TranslatableModel):
    translations = TranslatedFields(
        preflight_message=models.TextField(blank=True, default=""),
        post_install_message=models.TextField(blank=True, default=""),
        error_message=models.TextField(blank=True, default=""),
    )
    name = models.CharField(max_length=100, blank=True, default="")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="plan_templates")
    regression_test_opt_out = models.BooleanField(default=False)


class PlanSlug(models.Model):
    parent = models.ForeignKey(PlanTemplate, on_delete=models.CASCADE, related_name="slugs")
    slug = models.SlugField(max_length=256)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "slug"], name="planslug_unique")
        ]


class Tier(models.TextChoices):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    ADDITIONAL = "additional"


class SupportedOrgs(models.TextChoices):
    PERSISTENT = "Persistent"
    SCRATCH = "Scratch"
    BOTH = "Both"


class Plan(HashIdModel, TranslatableModel):
    translations = TranslatedFields(
        title=models.CharField(max_length=128),
        preflight_message_additional=models.TextField(blank=True, default=""),
        post_install_message_additional=models.TextField(blank=True, default=""),
    )
    plan_template = models.ForeignKey(PlanTemplate, on_delete=models.PROTECT, related_name="plans")
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="plans")
    commit_ish = models.CharField(max_length=256, null=True, blank=True)
    tier = models.CharField(max_length=32, choices=Tier.choices, default=Tier.PRIMARY)
    is_listed = models.BooleanField(default=True)
    order_key = models.PositiveIntegerField(default=0)
    preflight_checks = models.JSONField(default=list, blank=True)
    supported_orgs = models.CharField(
        max_length=32, choices=SupportedOrgs.choices, default=SupportedOrgs.PERSISTENT
    )
    org_config_name = models.CharField(max_length=64, default="release")
    scratch_org_duration_override = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    visible_to = models.ForeignKey(
        AllowedList, null=True, blank=True, on_delete=models.PROTECT, related_name="plans"
    )
    # Written only by calculate_average_plan_runtimes; read by the API as is.
    calculated_average_duration = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def scratch_org_duration(self) -> int:
        return self.scratch_org_duration_override or settings.SCRATCH_ORG_DURATION_DAYS

    @property
    def old_slugs(self) -> list[str]:
        current = self.slug
        return [slug.slug for slug in self.plan_template.slugs.all() if slug.slug != current]

    @property
    def required_step_ids(self) -> set[int]:
        return {step.id for step in self.steps.all() if step.is_required}

    @property
    def effective_commit_ish(self) -> str:
        return self.commit_ish or self.version.commit_ish

    @property
    def slug(self) -> str | None:
        # Iterates the (usually prefetched) slugs rather than issuing a query per plan.
        active = [slug for slug in self.plan_template.slugs.all() if slug.is_active]
        return max(active, key=lambda slug: slug.id).slug if active else None

    @property
    def requires_preflight(self) -> bool:
        if self.preflight_checks:
            return True
        return any(step.task_config.get("checks") for step in self.steps.all())

    @property
    def average_duration(self) -> int | None:
        return self.calculated_average_duration

    def is_visible_to(self, user) -> bool:
        if self.supported_orgs != SupportedOrgs.PERSISTENT:
            return True
        return self.visible_to is None or self.visible_to.allows(user)


class StepKind(models.TextChoices):
    METADATA = "metadata", "Metadata"
    ONETIME = "onetime", "One Time Apex"
    MANAGED = "managed", "Package"
    DATA = "data", "Data"
    OTHER = "other", "Other"


_STEP_NUM_PART = re.compile(r"(\d+|[./])")


def step_num_sort_key(step_num: str) -> list[int]:
    """Numeric order for step numbers like "1", "1.2", "1/3": "." sorts as -2, "/" as -1."""
    key = []
    for part in _STEP_NUM_PART.findall(step_num):
        if part == ".":
            key.append(-2)
        elif part == "/":
            key.append(-1)
        else:
            key.append(int(part))
    return key


class Step(HashIdModel, TranslatableModel):
    translations = TranslatedFields(
        name=models.CharField(max_length=1024),
        description=models.TextField(blank=True, default=""),
    )
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="steps")
    is_required = models.BooleanField(default=True)
    is_recommended = models.BooleanField(default=True)
    kind = models.CharField(max_length=64, choices=StepKind.choices, default=StepKind.METADATA)
    path = models.CharField(max_length=2048, blank=True, default="")
    step_num = models.CharField(
        max_length=64, validators=[RegexValidator(r"^[\d\./]+$")]
    )
    step_num_key = ArrayField(models.IntegerField(), default=list, editable=False)
    task_class = models.CharField(max_length=2048)
    task_config = models.JSONField(default=dict, blank=True)
    source = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ("plan", "step_num_key")
        constraints = [
            models.UniqueConstraint(fields=["plan", "step_num"], name="step_unique_num")
        ]

    def save(self, *args, **kwargs):
        self.step_num_key = step_num_sort_key(self.step_num)
        super().save(*args, **kwargs)



class CatalogueVersion(models.Model):
    """One row whose `version` changes in every transaction that changes the catalogue.

    Database triggers on every catalogue table set it (migration 0004), so no code path that
    writes the catalogue (admin API, admin site, translations, scheduled jobs, plain SQL) can
    forget to. Each writing statement sets a new value from a sequence: a version never comes
    back, not even after a reset (tables truncated). See catalog/cache.py.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="one_catalogue_version")
        ]
