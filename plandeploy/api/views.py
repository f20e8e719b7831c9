"""Views of the public API (/api/): catalogue reads, preflights, scratch orgs, jobs, orgs."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.authentication import CSRFCheck
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from plandeploy import queue, taskdefs
from plandeploy.accounts.models import FullOrgType, OrgConnection, OrgType
from plandeploy.api import sessions
from plandeploy.api.permissions import HasOrgOrReadOnly
from plandeploy.api.serializers import (
    CurrentJobSerializer,
    JobCreateSerializer,
    JobSerializer,
    JobUpdateSerializer,
    OrgConnectSerializer,
    PlanSerializer,
    PreflightResultSerializer,
    ProductCategorySerializer,
    ProductSerializer,
    ScratchOrgSerializer,
    UserSerializer,
    VersionSerializer,
    bootstrap_data,
    pending_job_message,
)
from plandeploy.catalog.models import (
    Plan,
    PlanSlug,
    Product,
    ProductCategory,
    ProductSlug,
    Step,
    SupportedOrgs,
    Version,
)
from plandeploy.hashids import decode
from plandeploy.orgs import workspaces
from plandeploy.runs import services
from plandeploy.runs.models import Job, PreflightResult, ScratchOrg, Status

NOT_FOUND = {"detail": "Not found."}
CONNECTION_LOST = "The connection to your org has been lost. Please log in again."


def _get_by_hashid(queryset: QuerySet, public_id: str):
    pk = decode(public_id)
    if pk is None:
        raise Http404
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def _enforce_csrf(request: Request) -> None:
    """CSRF for requests whose only credential is the session's scratch org (W25)."""
    if request.user.is_authenticated:
        return  # SessionAuthentication already checked (token requests need none)

    def no_response(_request):
        return None

    check = CSRFCheck(no_response)
    check.process_request(request._request)
    reason = check.process_view(request._request, None, (), {})
    if reason:
        raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")


def _org_lock(org_id: str) -> None:
    """Serialize run creation for one org within the current transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"org:{org_id}"])


def plan_queryset() -> QuerySet:
    return Plan.objects.select_related(
        "version__product__visible_to", "version__product", "plan_template", "visible_to"
    ).prefetch_related(
        "translations",
        "plan_template__translations",
        "plan_template__slugs",
        Prefetch("steps", queryset=Step.objects.prefetch_related("translations")),
        "version__product__translations",
    )


def version_queryset() -> QuerySet:
    return Version.objects.select_related("product").prefetch_related(
        "translations", Prefetch("plans", queryset=plan_queryset())
    )


def product_queryset() -> QuerySet:
    return Product.objects.select_related("category", "visible_to").prefetch_related(
        "translations",
        "category__translations",
        "productslug_set",
        Prefetch("versions", queryset=version_queryset()),
    )


def listed_products() -> QuerySet:
    listed_ids = Version.objects.filter(is_listed=True).values("product_id")
    return product_queryset().filter(is_listed=True, pk__in=listed_ids)


class ProductPagination(PageNumberPagination):
    page_size = 25


class HashIdLookupMixin:
    def get_object(self):
        obj = _get_by_hashid(self.get_queryset(), self.kwargs["pk"])
        self.check_object_permissions(self.request, obj)
        return obj


def _get_one(view, queryset: QuerySet, required: set[str]) -> Response:
    """A single object matching exactly the given filters, else 404 (the reference's get_one)."""
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

    @extend_schema(parameters=[OpenApiParameter("slug", str, required=True)])
    @action(detail=False, methods=["get"])
    def get_one(self, request: Request) -> Response:
        slug = request.query_params.get("slug", "")
        product_ids = ProductSlug.objects.filter(slug=slug).values("parent_id")
        return _get_one(self, product_queryset().filter(pk__in=product_ids), {"slug"})


class VersionViewSet(HashIdLookupMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = VersionSerializer

    def get_queryset(self) -> QuerySet:
        return version_queryset().filter(is_listed=True).order_by("-created_at", "pk")

    @extend_schema(
        parameters=[OpenApiParameter("product", str, required=True),
                    OpenApiParameter("label", str, required=True)]
    )
    @action(detail=False, methods=["get"])
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


class PlanViewSet(HashIdLookupMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = PlanSerializer

    def get_queryset(self) -> QuerySet:
        return plan_queryset().filter(is_listed=True).order_by("order_key", "pk")

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        plan = self.get_object()
        # The plan's page is the one place a shared `?scratch_org_id=` may bind (W25).
        sessions.bind_from_query(request, plan.pk)
        return Response(self.get_serializer(plan).data)

    @extend_schema(
        parameters=[OpenApiParameter("version", str, required=True),
                    OpenApiParameter("slug", str, required=True)]
    )
    @action(detail=False, methods=["get"])
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

    # --- preflight -----------------------------------------------------------------------

    def _any_plan(self) -> Plan:
        return _get_by_hashid(plan_queryset(), self.kwargs["pk"])

    def _caller_org_id(self, request: Request, plan: Plan) -> str | None:
        """The org a preflight read, run or cancel is about: the same rule for all (W26)."""
        if request.user.is_authenticated and request.user.org_id:
            return request.user.org_id
        scratch_org = sessions.session_scratch_org(request, plan_id=plan.pk)
        return scratch_org.org_id if scratch_org and scratch_org.org_id else None

    @extend_schema(methods=["GET"], request=None, responses={200: PreflightResultSerializer})
    @extend_schema(methods=["POST"], request=None, responses={201: PreflightResultSerializer})
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=True, methods=["get", "post", "delete"], permission_classes=[AllowAny])
    def preflight(self, request: Request, pk: str | None = None) -> Response:
        plan = self._any_plan()
        if request.method == "GET":
            return self._preflight_get(request, plan)
        if request.method == "DELETE":
            return self._preflight_cancel(request, plan)
        return self._preflight_post(request, plan)

    def _preflight_get(self, request: Request, plan: Plan) -> Response:
        org_id = self._caller_org_id(request, plan)
        preflight = (
            PreflightResult.objects.filter(org_id=org_id, plan=plan)
            .select_related("user__org_connection", "plan")
            .order_by("-created_at", "-pk")
            .first()
            if org_id
            else None
        )
        if preflight is None:
            return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
        return Response(PreflightResultSerializer(preflight).data)

    def _preflight_post(self, request: Request, plan: Plan) -> Response:
        user = request.user
        visible = plan.is_visible_to(user) and plan.version.product.is_visible_to(user)
        if user.is_authenticated:
            if not visible:
                raise exceptions.PermissionDenied()
            org_id = user.org_id
            if not org_id:
                raise exceptions.ValidationError({"detail": "No valid org."})
            if not user.valid_token_for:
                # W13: refuse now rather than start a preflight that can only fail.
                raise exceptions.ValidationError({"detail": CONNECTION_LOST})
            owner = user
        else:
            scratch_org = sessions.session_scratch_org(request, plan_id=plan.pk, complete=True)
            if scratch_org is None:
                raise exceptions.PermissionDenied()
            _enforce_csrf(request)
            org_id, owner = scratch_org.org_id, None
        with transaction.atomic():
            _org_lock(org_id)
            busy_job = (
                Job.objects.filter(org_id=org_id, status=Status.STARTED)
                .values_list("pk", flat=True)
                .first()
            )
            if busy_job is not None:
                raise exceptions.ValidationError(
                    {"detail": pending_job_message(Job(pk=busy_job).hashid)}
                )
            running = (
                PreflightResult.objects.filter(org_id=org_id, status=Status.STARTED)
                .values_list("pk", flat=True)
                .first()
            )
            if running is not None:
                raise exceptions.ValidationError(
                    {"detail": f"Preflight {running} is already running on this org."}
                )
            preflight = services.create_preflight(plan=plan, org_id=org_id, user=owner)
        return Response(PreflightResultSerializer(preflight).data, status=status.HTTP_201_CREATED)

    def _preflight_cancel(self, request: Request, plan: Plan) -> Response:
        org_id = self._caller_org_id(request, plan)
        if not org_id:
            if request.user.is_authenticated:
                raise Http404
            raise exceptions.NotAuthenticated()
        if not request.user.is_authenticated:
            _enforce_csrf(request)
        running = (
            PreflightResult.objects.filter(org_id=org_id, plan=plan, status=Status.STARTED)
            .order_by("-created_at")
            .first()
        )
        if running is None:
            raise Http404
        services.request_cancel_preflight(running)
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- scratch orgs --------------------------------------------------------------------

    @extend_schema(methods=["GET"], request=None, responses={200: ScratchOrgSerializer})
    @extend_schema(methods=["POST"], request=ScratchOrgSerializer,
                   responses={202: ScratchOrgSerializer})
    @action(detail=True, methods=["get", "post"], permission_classes=[AllowAny])
    def scratch_org(self, request: Request, pk: str | None = None) -> Response:
        if request.method == "GET":
            plan = self._any_plan()
            sessions.bind_from_query(request, plan.pk)
            scratch_org = sessions.session_scratch_org(request, plan_id=plan.pk)
            if scratch_org is None:
                return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
            return Response(ScratchOrgSerializer(scratch_org).data)
        return self._scratch_org_post(request)

    def _scratch_org_post(self, request: Request) -> Response:
        if not settings.SCRATCH_ORGS_ENABLED:
            return Response(
                {"detail": "Scratch orgs are not available."},
                status=status.HTTP_501_NOT_IMPLEMENTED,
            )
        plan = self.get_object()
        if not (plan.is_visible_to(request.user)
                and plan.version.product.is_visible_to(request.user)):
            raise Http404
        if plan.supported_orgs not in (SupportedOrgs.SCRATCH, SupportedOrgs.BOTH):
            return Response(
                {"detail": "This plan does not support creating a scratch org."},
                status=status.HTTP_409_CONFLICT,
            )
        serializer = ScratchOrgSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            # One lock for count + insert: a burst cannot push the queue past its limit.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('queue:default'))")
            if queue.queue_length(taskdefs.create_scratch_org.queue) >= settings.MAX_QUEUE_LENGTH:
                return Response(
                    {"detail": "Queue is overfull. Try again later."},
                    status=status.HTTP_503_SERVICE_UNAVAILABLE,
                )
            scratch_org = ScratchOrg.objects.create(
                plan=plan, email=serializer.validated_data["email"]
            )
            job_id = taskdefs.create_scratch_org.defer(org_pk=scratch_org.pk)
            now = timezone.now()
            ScratchOrg.objects.filter(pk=scratch_org.pk).update(job_id=job_id, enqueued_at=now)
            scratch_org.job_id, scratch_org.enqueued_at = job_id, now
        sessions.bind(request, scratch_org)
        return Response(ScratchOrgSerializer(scratch_org).data, status=status.HTTP_202_ACCEPTED)


def job_queryset() -> QuerySet:
    return Job.objects.select_related(
        "user__org_connection", "plan__plan_template", "plan__version__product"
    ).prefetch_related(
        "steps",
        "plan__translations",
        "plan__plan_template__translations",
        "plan__plan_template__slugs",
        "plan__version__product__translations",
        "plan__version__product__productslug_set",
    )


class JobViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Create, read, make public, and cancel (DELETE) plan runs. There is no list."""

    permission_classes = [HasOrgOrReadOnly]
    serializer_class = JobSerializer
    queryset = Job.objects.none()

    def get_queryset(self) -> QuerySet:
        user = self.request.user
        jobs = job_queryset()
        if user.is_authenticated and user.is_staff:
            return jobs
        visible = Job.objects.filter(is_public=True).values("pk")
        query = jobs.filter(pk__in=visible)
        if user.is_authenticated:
            query = query | jobs.filter(user=user)
        # W28: a scratch org still being created has no org id and matches nothing.
        session_org_id = sessions.session_scratch_org_id(self.request)
        if session_org_id:
            query = query | jobs.filter(user__isnull=True, org_id=session_org_id)
        return query

    def get_object(self) -> Job:
        job = _get_by_hashid(self.get_queryset(), self.kwargs["pk"])
        self.check_object_permissions(self.request, job)
        return job

    def get_serializer_class(self):
        if self.action == "create":
            return JobCreateSerializer
        if self.action in ("update", "partial_update"):
            return JobUpdateSerializer
        return JobSerializer

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        _enforce_csrf(request)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        scratch_org = data.get("scratch_org")
        try:
            job = services.create_job(
                plan=data["plan"],
                steps=data["steps"],
                user=None if scratch_org else request.user,
                scratch_org=scratch_org,
                is_public=data["is_public"],
                results=data.get("results") or {},
            )
        except services.OrgBusy as busy:
            raise exceptions.ValidationError(
                {"non_field_errors": [pending_job_message(busy.job_id)]}
            ) from None
        job = job_queryset().get(pk=job.pk)
        return Response(
            JobSerializer(job, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=JobUpdateSerializer, responses={200: JobSerializer})
    def update(self, request: Request, *args, **kwargs) -> Response:
        job = self.get_object()
        _enforce_csrf(request)
        serializer = JobUpdateSerializer(
            job, data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        if "is_public" in serializer.validated_data:
            # One column only: a worker writing results at the same time loses nothing (W7).
            Job.objects.filter(pk=job.pk).update(
                is_public=serializer.validated_data["is_public"], edited_at=timezone.now()
            )
        job = job_queryset().get(pk=job.pk)
        return Response(JobSerializer(job, context=self.get_serializer_context()).data)

    @extend_schema(request=JobUpdateSerializer, responses={200: JobSerializer})
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        kwargs["partial"] = True
        return self.update(request, *args, **kwargs)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        job = self.get_object()
        _enforce_csrf(request)
        services.request_cancel_job(job)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _org_status(org_id: str) -> dict:
    current_job = (
        job_queryset().filter(org_id=org_id, status=Status.STARTED).order_by("-created_at").first()
    )
    current_preflight = (
        PreflightResult.objects.filter(org_id=org_id, status=Status.STARTED)
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )
    return {
        "org_id": org_id,
        "current_job": CurrentJobSerializer(current_job).data if current_job else None,
        "current_preflight": str(current_preflight) if current_preflight else None,
    }


class OrgViewSet(viewsets.ViewSet):
    """The caller's own org(s): a session scratch org first, then the user's org."""

    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={200: {"type": "object"}})
    def list(self, request: Request) -> Response:
        response = {}
        session_org_id = sessions.session_scratch_org_id(request)
        if session_org_id:
            response[session_org_id] = _org_status(session_org_id)
        if request.user.is_authenticated and request.user.org_id:
            response[request.user.org_id] = _org_status(request.user.org_id)
        return Response(response)

    @extend_schema(
        request=OrgConnectSerializer,
        responses={201: inline_serializer("ConnectedOrg", {
            "org_id": serializers.CharField(), "org_name": serializers.CharField(),
            "org_type": serializers.CharField(), "full_org_type": serializers.CharField(),
        })},
    )
    @action(detail=False, methods=["post"], permission_classes=[IsAuthenticated])
    def connect(self, request: Request) -> Response:
        serializer = OrgConnectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connection_row = connect_local_org(request.user, serializer.validated_data.get("name"))
        return Response(
            {
                "org_id": connection_row.org_id,
                "org_name": connection_row.org_name,
                "org_type": connection_row.org_type,
                "full_org_type": connection_row.full_org_type,
            },
            status=status.HTTP_201_CREATED,
        )


def connect_local_org(user, name: str | None) -> OrgConnection:
    """Give `user` a local org (a workspace directory) and a fresh access token for it.

    Connecting again keeps the org and its workspace and replaces the token.
    """
    with transaction.atomic():
        existing = (
            OrgConnection.objects.select_for_update().filter(user=user).first()
        )
        if existing is None or existing.org_type != OrgType.LOCAL or not existing.org_id:
            row = existing or OrgConnection(user=user)
            row.org_type = OrgType.LOCAL
            row.org_id = workspaces.new_local_org_id()
            row.workspace = str(workspaces.persistent_workspace(row.org_id))
        else:
            row = existing
        row.org_name = name or row.org_name or f"{user.username}'s local org"
        row.organization_type = "Developer Edition"
        row.full_org_type = FullOrgType.DEVELOPER
        row.instance_url = ""
        row.org_username = row.org_username or user.username
        row.access_token = secrets.token_urlsafe(32)
        row.refresh_token = None
        row.token_created_at = timezone.now()
        row.last_login = timezone.now()
        workspaces.create_workspace(Path(row.workspace), exist_ok=True)
        row.save()
    return row


class UserView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)


class BootstrapView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: {"type": "object"}})
    def get(self, request: Request) -> Response:
        return Response(bootstrap_data())
