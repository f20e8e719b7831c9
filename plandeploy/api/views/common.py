"""Helpers every public API view uses: lookups by public id, the JSON 404 body, CSRF."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from rest_framework import exceptions
from rest_framework.authentication import CSRFCheck
from rest_framework.request import Request

from plandeploy.hashids import decode

NOT_FOUND = {"detail": "Not found."}


def get_by_hashid(queryset: QuerySet, public_id: str):
    pk = decode(public_id)
    if pk is None:
        raise Http404
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def enforce_csrf(request: Request) -> None:
    """CSRF for requests whose only credential is the session's scratch org.

    Without it another site could make a visitor's browser start or cancel runs on the
    visitor's scratch org.
    """
    if request.user.is_authenticated:
        return  # SessionAuthentication already checked (token requests need none)

    def no_response(_request):
        return None

    check = CSRFCheck(no_response)
    check.process_request(request._request)
    reason = check.process_view(request._request, None, (), {})
    if reason:
        raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")


class HashIdLookupMixin:
    def get_object(self):
        obj = get_by_hashid(self.get_queryset(), self.kwargs["pk"])
        self.check_object_permissions(self.request, obj)
        return obj
