"""GET/POST /api/plans/<id>/scratch_org/: the session's scratch org, and requesting one."""

from __future__ import annotations

from django.http import Http404, HttpResponseRedirect
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from plandeploy.api import sessions
from plandeploy.api.querysets import plan_queryset
from plandeploy.api.serializers.runs import ScratchOrgClaimSerializer, ScratchOrgSerializer
from plandeploy.api.views.common import NOT_FOUND, get_by_hashid
from plandeploy.runs import scratch_requests, services
from plandeploy.security.ratelimits import CreateRateThrottle


class ScratchOrgActions:
    """The `scratch_org` action of the plan viewset."""

    throttle_scope: str | None = None  # set per action, for its rate limit

    @extend_schema(methods=["GET"], request=None, responses={200: ScratchOrgSerializer})
    @extend_schema(methods=["POST"], request=ScratchOrgSerializer,
                   responses={202: ScratchOrgSerializer})
    @action(detail=True, methods=["get", "post"], permission_classes=[AllowAny],
            throttle_classes=[CreateRateThrottle], throttle_scope="scratch_org")
    def scratch_org(self, request: Request, pk: str | None = None) -> Response:
        if request.method == "GET":
            plan = get_by_hashid(plan_queryset(), self.kwargs["pk"])
            sessions.bind_from_query(request, plan.pk)
            scratch_org = sessions.session_scratch_org(request, plan_id=plan.pk)
            if scratch_org is None:
                return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
            return Response(ScratchOrgSerializer(scratch_org).data)
        return self._scratch_org_post(request)

    def _scratch_org_post(self, request: Request) -> Response:
        # The order of the checks decides which error a request with several faults gets:
        # availability (501), the plan (404, 409), the body (400), the queue (503).
        try:
            scratch_requests.ensure_available()
            plan = self.get_object()
            scratch_requests.ensure_plan_supports(plan, request.user)
            serializer = ScratchOrgSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            scratch_org = scratch_requests.request_scratch_org(
                plan=plan, user=request.user, email=serializer.validated_data["email"]
            )
        except scratch_requests.ScratchOrgsDisabled:
            return Response({"detail": "Scratch orgs are not available."},
                            status=status.HTTP_501_NOT_IMPLEMENTED)
        except services.PlanNotAllowed:
            raise Http404 from None
        except scratch_requests.ScratchOrgsUnsupported:
            return Response({"detail": "This plan does not support creating a scratch org."},
                            status=status.HTTP_409_CONFLICT)
        except scratch_requests.QueueFull:
            return Response({"detail": "Queue is overfull. Try again later."},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE)
        sessions.bind(request, scratch_org)
        return Response(ScratchOrgSerializer(scratch_org, context={"show_uuid": True}).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=ScratchOrgClaimSerializer, responses={200: ScratchOrgSerializer})
    @action(detail=True, methods=["post"], url_path="scratch_org/claim",
            permission_classes=[AllowAny], throttle_classes=[CreateRateThrottle],
            throttle_scope="scratch_org")
    def scratch_org_claim(self, request: Request, pk: str | None = None) -> Response:
        """Bind a shared scratch org to this session, replacing the one it holds.

        The explicit, CSRF-checked confirmation a `?scratch_org_id=` link cannot give.
        """
        plan = get_by_hashid(plan_queryset(), self.kwargs["pk"])
        serializer = ScratchOrgClaimSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        scratch_org = sessions.plan_scratch_org(serializer.validated_data["uuid"], plan.pk)
        if scratch_org is None:
            raise Http404
        sessions.bind(request, scratch_org)
        return Response(ScratchOrgSerializer(scratch_org).data)


@extend_schema(request=None, responses={302: None, 404: None})
@api_view(["GET"])
@permission_classes([AllowAny])
def scratch_org_redirect(request: Request, org_id: str) -> Response:
    """"View org": 302 to the front door of the session's complete scratch org; 404 for any
    other id, a local org, or no session org."""
    scratch_org = sessions.session_scratch_org(request, complete=True)
    target = (
        scratch_requests.front_door_url(scratch_org)
        if scratch_org is not None and scratch_org.hashid == org_id else None
    )
    if target is None:
        return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
    return HttpResponseRedirect(target)
