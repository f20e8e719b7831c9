"""Admin API views: superuser-only, token-authenticated, throttled CRUD with filtered lists."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError
from django.db.models import ProtectedError, QuerySet
from django.http import Http404
from django.utils import translation
from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions, pagination, status, viewsets
from rest_framework.response import Response

from plandeploy.adminapi import serializers as s
from plandeploy.catalog import models as m
from plandeploy.security.permissions import IsSuperuser
from plandeploy.security.ratelimits import SharedRateThrottle


class AdminPagination(pagination.LimitOffsetPagination):
    default_limit = 10
    max_limit = 100

    def get_paginated_response(self, data):
        return Response({
            "data": data,
            "meta": {"total_count": self.count},
            "links": {"next": self.get_next_link(), "previous": self.get_previous_link()},
        })

    def get_paginated_response_schema(self, schema):
        return {"type": "object", "properties": {
            "data": schema,
            "meta": {"type": "object"},
            "links": {"type": "object"},
        }}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This object is still referred to by others and cannot be deleted."


class AdminAutoSchema(AutoSchema):
    """Names the admin API's components `Admin…`: the public API has serializers of the same
    names with other fields, and two components of one name make the schema describe one
    of them wrongly (clients generated from it, and schema-driven tests, would be misled)."""

    def get_serializer_name(self, serializer, direction: str) -> str:
        return "Admin" + super().get_serializer_name(serializer, direction)


class AdminViewSet(viewsets.ModelViewSet):
    schema = AdminAutoSchema()
    permission_classes = [IsSuperuser]
    throttle_classes = [SharedRateThrottle]
    throttle_scope = "admin_api"
    pagination_class = AdminPagination
    model: type
    # query parameter -> (lookup, model whose public id the value is, or None for plain text)
    filters: dict[str, tuple[str, type | None]] = {}

    def dispatch(self, request, *args, **kwargs):
        # Catalogue text written here is the source text, in the default language.
        with translation.override(settings.LANGUAGE_CODE):
            return super().dispatch(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet:
        queryset = self.model.objects.all().order_by("pk")
        if hasattr(self.model, "translations"):
            queryset = queryset.prefetch_related("translations")
        if self.action != "list":
            return queryset
        for name, (lookup, related) in self.filters.items():
            if name not in self.request.query_params:
                continue
            value = self.request.query_params[name]
            if related is not None:
                value = s.pk_from_public_id(related, value)
                if value is None:
                    return queryset.none()
            queryset = queryset.filter(**{lookup: value})
        return queryset

    def get_object(self):
        pk = s.pk_from_public_id(self.model, str(self.kwargs["pk"]))
        if pk is None:
            raise Http404
        obj = self.get_queryset().filter(pk=pk).first()
        if obj is None:
            raise Http404
        self.check_object_permissions(self.request, obj)
        return obj

    def perform_create(self, serializer):
        try:
            serializer.save()
        except IntegrityError:
            raise exceptions.ValidationError(
                {"detail": "That conflicts with an existing object."}
            ) from None

    def perform_update(self, serializer):
        self.perform_create(serializer)

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError:
            raise Conflict() from None


class ProductViewSet(AdminViewSet):
    model = m.Product
    serializer_class = s.ProductSerializer
    filters = {"repo_url": ("repo_url", None), "category": ("category_id", m.ProductCategory)}

    def get_queryset(self):
        return super().get_queryset().prefetch_related("productslug_set")


class ProductSlugViewSet(AdminViewSet):
    model = m.ProductSlug
    serializer_class = s.ProductSlugSerializer
    filters = {"parent": ("parent_id", m.Product), "slug": ("slug", None)}


class ProductCategoryViewSet(AdminViewSet):
    model = m.ProductCategory
    serializer_class = s.ProductCategorySerializer
    filters = {"title": ("translations__title", None)}


class VersionViewSet(AdminViewSet):
    model = m.Version
    serializer_class = s.VersionSerializer
    filters = {"product": ("product_id", m.Product), "label": ("label", None)}


class PlanTemplateViewSet(AdminViewSet):
    model = m.PlanTemplate
    serializer_class = s.PlanTemplateSerializer
    filters = {"product": ("product_id", m.Product), "name": ("name", None)}


class PlanSlugViewSet(AdminViewSet):
    model = m.PlanSlug
    serializer_class = s.PlanSlugSerializer
    filters = {"parent": ("parent_id", m.PlanTemplate), "slug": ("slug", None)}


class PlanViewSet(AdminViewSet):
    model = m.Plan
    serializer_class = s.PlanSerializer
    filters = {"version": ("version_id", m.Version),
               "plan_template": ("plan_template_id", m.PlanTemplate)}

    def get_queryset(self):
        return super().get_queryset().prefetch_related("steps__translations")


class AllowedListViewSet(AdminViewSet):
    model = m.AllowedList
    serializer_class = s.AllowedListSerializer
    filters = {"title": ("title", None)}


class AllowedListOrgViewSet(AdminViewSet):
    model = m.AllowedListOrg
    serializer_class = s.AllowedListOrgSerializer
    filters = {"allowed_list": ("allowed_list_id", m.AllowedList), "org_id": ("org_id", None)}
