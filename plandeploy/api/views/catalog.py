"""Catalogue reads: categories, products, versions and plans (plans also carry run actions)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from plandeploy.api import sessions
from plandeploy.api.cached import catalogue_response
from plandeploy.api.querysets import (
    listed_products,
    plan_queryset,
    product_queryset,
    version_queryset,
)
from plandeploy.api.serializers.catalog import (
    PlanSerializer,
    ProductCategorySerializer,
    ProductSerializer,
    VersionSerializer,
)
from plandeploy.api.views.common import NOT_FOUND, HashIdLookupMixin
from plandeploy.api.views.preflights import PreflightActions
from plandeploy.api.views.scratch_orgs import ScratchOrgActions
from plandeploy.catalog.models import PlanSlug, ProductCategory, ProductSlug
from plandeploy.hashids import decode


class ProductPagination(PageNumberPagination):
    page_size = 25


def get_one_action(*lookups: str):
    """The `get_one` list route, with its required query parameters in the schema."""

    def decorate(method):
        method = action(detail=False, methods=["get"])(method)
        parameters = [OpenApiParameter(name, str, required=True) for name in lookups]
        return extend_schema(parameters=parameters)(method)

    return decorate


def _get_one(view, queryset: QuerySet, required: set[str]) -> Response:
    """A single object matching exactly the given filters, else 404."""
    if set(view.request.query_params.keys()) != required:
        return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
    matches = list(queryset[:2])
    if len(matches) != 1:
        return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
    return Response(view.get_serializer(matches[0]).data)


class ProductCategoryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ProductCategorySerializer
    queryset = ProductCategory.objects.prefetch_related("translations")
    lookup_value_regex = "[0-9]{1,18}"

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if self.action == "list":
            context["first_pages"] = self._first_pages(context)
        return context

    def _first_pages(self, context: dict) -> dict:
        pages = {}
        for category in self.get_queryset():
            products = listed_products().filter(category=category)
            paginator = ProductPagination()
            page = paginator.paginate_queryset(products, self.request)
            count = paginator.page.paginator.count
            next_url = None
            if paginator.page.has_next():
                base = self.request.build_absolute_uri("/api/products/")
                next_url = f"{base}?category={category.pk}&page=2"
            pages[category.pk] = {
                "count": count,
                "next": next_url,
                "previous": None,
                "results": ProductSerializer(page, many=True, context=context).data,
            }
        return pages


class ProductViewSet(HashIdLookupMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ProductSerializer
    pagination_class = ProductPagination

    def get_queryset(self) -> QuerySet:
        products = listed_products()
        category = self.request.query_params.get("category")
        if category is not None and self.action == "list":
            if not category.isdigit():
                raise exceptions.ValidationError({"category": ["A valid integer is required."]})
            products = products.filter(category_id=int(category))
        return products.order_by("category__order_key", "order_key", "pk")

    def list(self, request: Request, *args, **kwargs) -> Response:
        if set(request.query_params) - {"category", "page"}:
            # Other parameters reappear in the page's links: such lists are not cached, or
            # a client could fill the cache with one entry per made-up parameter.
            return super().list(request, *args, **kwargs)
        # The page's links name this host and scheme: they are part of what is cached.
        return catalogue_response(request, ("products", request.build_absolute_uri()),
                                  lambda: super(ProductViewSet, self).list(request).data)

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return catalogue_response(request, ("product", kwargs["pk"]),
                                  lambda: self._data_or_none())

    def _data_or_none(self) -> dict | None:
        try:
            return self.get_serializer(self.get_object()).data
        except Http404:
            return None

    @get_one_action("slug")
    def get_one(self, request: Request) -> Response:
        slug = request.query_params.get("slug", "")
        product_ids = ProductSlug.objects.filter(slug=slug).values("parent_id")
        return _get_one(self, product_queryset().filter(pk__in=product_ids), {"slug"})


class VersionViewSet(HashIdLookupMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = VersionSerializer

    def get_queryset(self) -> QuerySet:
        return version_queryset().filter(is_listed=True).order_by("-created_at", "pk")

    @get_one_action("product", "label")
    def get_one(self, request: Request) -> Response:
        product_pk = decode(request.query_params.get("product"))
        versions = version_queryset().filter(
            product_id=product_pk or 0, label=request.query_params.get("label", "")
        )
        return _get_one(self, versions, {"product", "label"})

    @extend_schema(request=None, responses={200: PlanSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def additional_plans(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        plans = [plan for plan in version.plans.all() if plan.is_listed
                 and plan.tier == "additional"]
        plans.sort(key=lambda plan: (plan.order_key, plan.created_at))
        context = self.get_serializer_context()
        return Response(PlanSerializer(plans, many=True, context=context).data)


class PlanViewSet(
    PreflightActions, ScratchOrgActions, HashIdLookupMixin, viewsets.ReadOnlyModelViewSet
):
    serializer_class = PlanSerializer

    def get_queryset(self) -> QuerySet:
        return plan_queryset().filter(is_listed=True).order_by("order_key", "pk")

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        response = catalogue_response(request, ("plan", kwargs["pk"]),
                                      lambda: self._data_or_none())
        if response.status_code == status.HTTP_200_OK:
            # The plan's page is the one place a shared `?scratch_org_id=` may bind: binding
            # from any URL would let a crafted link plant someone else's org in a session.
            sessions.bind_from_query(request, decode(kwargs["pk"]))
        return response

    def _data_or_none(self) -> dict | None:
        try:
            return self.get_serializer(self.get_object()).data
        except Http404:
            return None

    @get_one_action("version", "slug")
    def get_one(self, request: Request) -> Response:
        version_pk = decode(request.query_params.get("version"))
        template_ids = PlanSlug.objects.filter(
            slug=request.query_params.get("slug", "")
        ).values("parent_id")
        plans = (
            plan_queryset()
            .filter(version_id=version_pk or 0, plan_template_id__in=template_ids)
            .order_by("-created_at")
        )
        if set(request.query_params.keys()) != {"version", "slug"}:
            return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
        plan = plans.first()
        if plan is None:
            return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
        return Response(self.get_serializer(plan).data)
