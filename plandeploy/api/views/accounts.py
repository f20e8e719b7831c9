"""The caller's user and orgs: /api/user/, /api/orgs/ (and connecting one), /api/ui/bootstrap/."""

from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from plandeploy.accounts import services
from plandeploy.api import sessions
from plandeploy.api.querysets import job_queryset
from plandeploy.api.serializers.accounts import OrgConnectSerializer, UserSerializer
from plandeploy.api.serializers.catalog import bootstrap_data
from plandeploy.api.serializers.runs import CurrentJobSerializer
from plandeploy.runs.models import PreflightResult, Status
from plandeploy.security.ratelimits import CreateRateThrottle


def org_status(org_id: str) -> dict:
    """An org's running job and preflight, as /api/orgs/ and the ORG_CHANGED event show them."""
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
    throttle_scope: str | None = None  # set per action, for its rate limit

    @extend_schema(request=None, responses={200: {"type": "object"}})
    def list(self, request: Request) -> Response:
        response = {}
        session_org_id = sessions.session_scratch_org_id(request)
        if session_org_id:
            response[session_org_id] = org_status(session_org_id)
        if request.user.is_authenticated and request.user.org_id:
            response[request.user.org_id] = org_status(request.user.org_id)
        return Response(response)

    @extend_schema(
        request=OrgConnectSerializer,
        responses={201: inline_serializer("ConnectedOrg", {
            "org_id": serializers.CharField(), "org_name": serializers.CharField(),
            "org_type": serializers.CharField(), "full_org_type": serializers.CharField(),
        })},
    )
    @action(detail=False, methods=["post"], permission_classes=[IsAuthenticated],
            throttle_classes=[CreateRateThrottle], throttle_scope="org_connect")
    def connect(self, request: Request) -> Response:
        serializer = OrgConnectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            connection_row = services.connect_local_org(
                request.user, serializer.validated_data.get("name")
            )
        except services.OrgTypeNotOffered as exc:
            raise PermissionDenied(str(exc)) from exc
        return Response(
            {
                "org_id": connection_row.org_id,
                "org_name": connection_row.org_name,
                "org_type": connection_row.org_type,
                "full_org_type": connection_row.full_org_type,
            },
            status=status.HTTP_201_CREATED,
        )


class UserView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class BootstrapView(APIView):
    """Settings a client needs first; also sets the CSRF cookie its anonymous writes need."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: {"type": "object"}})
    def get(self, request: Request) -> Response:
        return Response(bootstrap_data())
