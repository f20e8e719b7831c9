"""The admin site and admin API answer only clients in ADMIN_API_ALLOWED_SUBNETS.

The admin API publishes the code that later runs against customers' orgs, so a stolen
staff token alone must not be enough from anywhere on the internet. Requests from other
addresses get a 400 (as a refused Host header does), before any authentication runs.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from plandeploy.security.addresses import client_address, in_networks

logger = logging.getLogger(__name__)
ADMIN_PREFIX = "/admin/"


class AdminAllowedSubnetsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(ADMIN_PREFIX):
            address = client_address(request)
            if not in_networks(address, settings.ADMIN_API_ALLOWED_SUBNETS):
                logger.warning("admin request refused from an address outside "
                               "ADMIN_API_ALLOWED_SUBNETS")
                return JsonResponse({"detail": "Bad request."}, status=400)
        return self.get_response(request)
