"""Django admin for the catalogue (translatable text edited per language through parler)."""

from __future__ import annotations

from django.contrib import admin
from parler.admin import TranslatableAdmin, TranslatableTabularInline

from plandeploy.catalog import models
from plandeploy.catalog.slugs import ensure_plan_slug, ensure_product_slug


class ProductSlugInline(admin.TabularInline):
    model = models.ProductSlug
    extra = 0


class PlanSlugInline(admin.TabularInline):
    model = models.PlanSlug
    extra = 0


class StepInline(TranslatableTabularInline):
    model = models.Step
    extra = 0
    fields = ("step_num", "name", "kind", "is_required", "is_recommended", "task_class",
              "task_config", "path", "source")


class AllowedListOrgInline(admin.TabularInline):
    model = models.AllowedListOrg
    extra = 0


@admin.register(models.ProductCategory)
class ProductCategoryAdmin(TranslatableAdmin):
    list_display = ("title", "order_key", "is_listed")


@admin.register(models.Product)
class ProductAdmin(TranslatableAdmin):
    list_display = ("title", "category", "repo_url", "is_listed", "order_key")
    list_filter = ("is_listed", "category")
    search_fields = ("translations__title", "repo_url")
    inlines = [ProductSlugInline]

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        # After the inline slugs: one typed in is kept, none gives the title's.
        ensure_product_slug(form.instance)


@admin.register(models.Version)
class VersionAdmin(TranslatableAdmin):
    list_display = ("label", "product", "commit_ish", "is_production", "is_listed", "created_at")
    list_filter = ("is_listed", "is_production")
    search_fields = ("label",)


@admin.register(models.PlanTemplate)
class PlanTemplateAdmin(TranslatableAdmin):
    list_display = ("name", "product")
    inlines = [PlanSlugInline]


@admin.register(models.Plan)
class PlanAdmin(TranslatableAdmin):
    list_display = ("title", "version", "tier", "is_listed", "supported_orgs",
                    "calculated_average_duration")
    list_filter = ("tier", "is_listed", "supported_orgs")
    readonly_fields = ("calculated_average_duration",)
    inlines = [StepInline]

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        ensure_plan_slug(form.instance)


@admin.register(models.AllowedList)
class AllowedListAdmin(admin.ModelAdmin):
    list_display = ("title", "list_for_allowed_by_orgs")
    inlines = [AllowedListOrgInline]


@admin.register(models.SiteProfile)
class SiteProfileAdmin(TranslatableAdmin):
    list_display = ("name",)


@admin.register(models.ClickThroughAgreement)
class ClickThroughAgreementAdmin(admin.ModelAdmin):
    readonly_fields = ("text",)
