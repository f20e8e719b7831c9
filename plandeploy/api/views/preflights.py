"""GET/POST/DELETE /api/plans/<id>/preflight/: read, start and cancel the caller's preflight."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from plandeploy.api import sessions
from plandeploy.api.cached import catalogue_plan
from plandeploy.api.serializers.runs import PreflightResultSerializer
from plandeploy.api.views.common import NOT_FOUND
from plandeploy.catalog.models import Plan
from plandeploy.runs import services
from plandeploy.runs.models import PreflightResult
from plandeploy.security.ratelimits import CreateRateThrottle


def caller_org_id(request: Request, plan: Plan) -> str | None:
    """The org a preflight read, run or cancel is about.

    The same rule for all three, so a signed-in user holding a scratch session reads the
    preflight they started rather than another org's.
    """
    if request.user.is_authenticated and request.user.org_id:
        return request.user.org_id
    scratch_org = sessions.session_scratch_org(request, plan_id=plan.pk)
    return scratch_org.org_id if scratch_org and scratch_org.org_id else None


class PreflightActions:
    """The `preflight` action of the plan viewset."""

    throttle_scope: str | None = None  # set per action, for its rate limit

    @extend_schema(methods=["GET"], request=None, responses={200: PreflightResultSerializer})
    @extend_schema(methods=["POST"], request=None, responses={201: PreflightResultSerializer})
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=True, methods=["get", "post", "delete"], permission_classes=[AllowAny],
            throttle_classes=[CreateRateThrottle], throttle_scope="preflight")
    def preflight(self, request: Request, pk: str | None = None) -> Response:
        # From the catalogue cache: a preflight's checks and response read nothing more.
        plan = catalogue_plan(request, self.kwargs["pk"])
        if plan is None:
            raise Http404
        if request.method == "GET":
            return _preflight_get(request, plan)
        if request.method == "DELETE":
            return _preflight_cancel(request, plan)
        return _preflight_post(request, plan)


def _preflight_get(request: Request, plan: Plan) -> Response:
    org_id = caller_org_id(request, plan)
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


def _preflight_post(request: Request, plan: Plan) -> Response:
    scratch_org = None
    if not request.user.is_authenticated:
        scratch_org = sessions.session_scratch_org(request, plan_id=plan.pk, complete=True)
        if scratch_org is None:
            raise exceptions.PermissionDenied()
    try:
        preflight = services.request_preflight(
            plan=plan, user=request.user, scratch_org=scratch_org
        )
    except services.PlanNotAllowed:
        raise exceptions.PermissionDenied() from None
    except services.Refused as refused:
        raise exceptions.ValidationError({"detail": str(refused)}) from None
    return Response(PreflightResultSerializer(preflight).data, status=status.HTTP_201_CREATED)


def _preflight_cancel(request: Request, plan: Plan) -> Response:
    org_id = caller_org_id(request, plan)
    if not org_id:
        if request.user.is_authenticated:
            raise Http404
        raise exceptions.NotAuthenticated()
    try:
        services.cancel_preflight(plan=plan, org_id=org_id)
    except services.NothingToCancel:
        raise Http404 from None
    return Response(status=status.HTTP_204_NO_CONTENT)
