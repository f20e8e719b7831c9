"""Helpers every public API view uses: lookups by public id and the JSON 404 body."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

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


class HashIdLookupMixin:
    def get_object(self):
        obj = get_by_hashid(self.get_queryset(), self.kwargs["pk"])
        self.check_object_permissions(self.request, obj)
        return obj
