"""Django admin for users and their org connections (tokens are never shown)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from rest_framework.authtoken.models import TokenProxy

from plandeploy.accounts.models import OrgConnection, User

# Only digests of API tokens are stored, so the admin could neither show a token nor issue
# a usable one: tokens come from `plandeploy manage create_api_token`.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


class OrgConnectionInline(admin.StackedInline):
    model = OrgConnection
    extra = 0
    can_delete = True
    exclude = ("access_token", "refresh_token")
    readonly_fields = ("token_created_at", "created_at", "last_login")


@admin.register(User)
class PlandeployUserAdmin(UserAdmin):
    inlines = [OrgConnectionInline]
    list_display = ("username", "email", "is_staff", "is_superuser", "last_login")


@admin.register(OrgConnection)
class OrgConnectionAdmin(admin.ModelAdmin):
    list_display = ("user", "org_type", "org_id", "org_name", "full_org_type", "token_created_at")
    exclude = ("access_token", "refresh_token")
    search_fields = ("org_id", "org_name", "user__username")
