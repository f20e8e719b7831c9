"""The signed-in user and the org they connect, as the public API shows and takes them."""

from __future__ import annotations

from rest_framework import serializers

from plandeploy.accounts.models import FullOrgType


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


class OrgConnectSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=255, allow_blank=False)
