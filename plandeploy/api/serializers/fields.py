"""Fields the public API's serializers share: short public ids and translated text."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS

from plandeploy.catalog.texts import tr
from plandeploy.hashids import HashIdModel, encode

HASHID_SCHEMA = {"type": "string", "description": "a short public id"}


@extend_schema_field(HASHID_SCHEMA)
class HashIdRelatedField(serializers.PrimaryKeyRelatedField):
    """A related object named by its short public id."""

    default_error_messages = {
        "does_not_exist": 'Invalid pk "{pk_value}" - object does not exist.',
        "incorrect_type": "Incorrect type. Expected pk value, received {data_type}.",
    }

    def to_internal_value(self, data: Any) -> HashIdModel:
        if not isinstance(data, str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        pk = HashIdModel.pk_from_hashid(data)
        if pk is None:
            self.fail("does_not_exist", pk_value=data)
        try:
            return self.get_queryset().get(pk=pk)
        except self.get_queryset().model.DoesNotExist:
            self.fail("does_not_exist", pk_value=data)

    def to_representation(self, value: Any) -> str:
        return encode(value.pk)

    @classmethod
    def many_init(cls, *args, **kwargs) -> HashIdManyField:
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update((key, value) for key, value in kwargs.items()
                           if key in MANY_RELATION_KWARGS)
        return HashIdManyField(**list_kwargs)


class HashIdManyField(serializers.ManyRelatedField):
    """Several public ids, looked up in one query (one per id costs a round trip each)."""

    def to_internal_value(self, data: Any) -> list:
        if isinstance(data, str) or not hasattr(data, "__iter__"):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not self.allow_empty and len(data) == 0:
            self.fail("empty")
        child = self.child_relation
        wanted = []
        for item in data:
            if not isinstance(item, str):
                child.fail("incorrect_type", data_type=type(item).__name__)
            pk = HashIdModel.pk_from_hashid(item)
            if pk is None:
                child.fail("does_not_exist", pk_value=item)
            wanted.append((item, pk))
        found = self.lookup([pk for _item, pk in wanted]) if wanted else {}
        for item, pk in wanted:
            if pk not in found:
                child.fail("does_not_exist", pk_value=item)
        return [found[pk] for _item, pk in wanted]

    def lookup(self, pks: list[int]) -> dict[int, Any]:
        """The objects of these primary keys that exist, by primary key."""
        return self.child_relation.get_queryset().in_bulk(pks)


@extend_schema_field({"type": "string"})
class TranslatedField(serializers.ReadOnlyField):
    """A parler field read with fallbacks, so a missing translation is "" and never an error."""

    def get_attribute(self, instance: Any) -> str:
        *path, name = self.source_attrs
        for attr in path:
            instance = getattr(instance, attr)
        return tr(instance, name)


def request_user(context: dict):
    request = context.get("request")
    return getattr(request, "user", None)
