"""/api/jobs/: create, read, make public and cancel plan runs (there is no list)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from plandeploy.api import sessions
from plandeploy.api.job_reads import created_job_data, job_response_data
from plandeploy.api.permissions import HasOrgOrReadOnly
from plandeploy.api.querysets import job_queryset, visible_jobs
from plandeploy.api.serializers.runs import (
    JobCreateSerializer,
    JobSerializer,
    JobUpdateSerializer,
)
from plandeploy.api.views.common import get_by_hashid
from plandeploy.runs import services
from plandeploy.runs.models import Job
from plandeploy.security.ratelimits import CreateRateThrottle


class JobViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Create, read, make public, and cancel (DELETE) plan runs. There is no list."""

    permission_classes = [HasOrgOrReadOnly]
    throttle_classes = [CreateRateThrottle]
    throttle_scope = "job"
    serializer_class = JobSerializer
    queryset = Job.objects.none()

    def get_queryset(self) -> QuerySet:
        return visible_jobs(self.request)

    def get_object(self) -> Job:
        job = get_by_hashid(self.get_queryset(), self.kwargs["pk"])
        self.check_object_permissions(self.request, job)
        return job

    def get_serializer_class(self):
        if self.action == "create":
            return JobCreateSerializer
        if self.action in ("update", "partial_update"):
            return JobUpdateSerializer
        return JobSerializer

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        # The plan from the catalogue cache: only the job's own rows are read.
        job, data = job_response_data(request, kwargs["pk"])
        self.check_object_permissions(request, job)
        return Response(data)

    def _job_response(self, job: Job, code: int = status.HTTP_200_OK) -> Response:
        job = job_queryset().get(pk=job.pk)
        return Response(JobSerializer(job, context=self.get_serializer_context()).data,
                        status=code)

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        scratch_org = None
        if not request.user.is_authenticated:
            scratch_org = sessions.session_scratch_org(
                request, plan_id=data["plan"].pk, complete=True
            )
        try:
            job = services.request_job(
                plan=data["plan"],
                steps=data["steps"],
                user=request.user,
                scratch_org=scratch_org,
                is_public=data["is_public"],
                results=data.get("results") or {},
            )
        except services.PlanNotAllowed as refused:
            raise exceptions.ValidationError({"plan": [str(refused)]}) from None
        except services.Refused as refused:
            raise exceptions.ValidationError({"non_field_errors": [str(refused)]}) from None
        # The job as created (its plan, steps and user already loaded): no re-read.
        return Response(created_job_data(request, job), status=status.HTTP_201_CREATED)

    @extend_schema(request=JobUpdateSerializer, responses={200: JobSerializer})
    def update(self, request: Request, *args, **kwargs) -> Response:
        job = self.get_object()
        serializer = JobUpdateSerializer(data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        try:
            services.set_job_public(job, serializer.validated_data.get("is_public"))
        except services.Refused as refused:
            raise exceptions.ValidationError({"non_field_errors": [str(refused)]}) from None
        return self._job_response(job)

    @extend_schema(request=JobUpdateSerializer, responses={200: JobSerializer})
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        kwargs["partial"] = True
        return self.update(request, *args, **kwargs)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        job = self.get_object()
        services.request_cancel_job(job)
        return Response(status=status.HTTP_204_NO_CONTENT)
