"""Model instances from hand-written SQL, for hot reads where compiling the ORM query costs
more than running it.

Why: compiling a select_related query (columns, joins, converters) costs ~1 ms of Python on
every request, several times the query's round trip. A `Columns` lists a model's columns
once, from the model's own metadata (so a new or renamed field needs no change here), and
turns a row back into an instance exactly as the ORM does: the same converters (JSON,
encrypted text, ...) and `Model.from_db`, with every column not selected deferred.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import Model


class Columns:
    """Some concrete columns of `model`, selected from the table alias `alias`."""

    def __init__(self, model: type[Model], alias: str, attnames: Iterable[str] | None = None):
        fields = model._meta.concrete_fields
        if attnames is not None:
            wanted = set(attnames)
            unknown = wanted - {field.attname for field in fields}
            if unknown:
                raise ValueError(f"{model.__name__} has no columns {sorted(unknown)}")
            fields = [field for field in fields if field.attname in wanted]
        self.model = model
        self.fields = list(fields)
        self.attnames = frozenset(field.attname for field in self.fields)
        quote = connection.ops.quote_name
        self.sql = ", ".join(f"{quote(alias)}.{quote(field.column)}" for field in self.fields)
        self._pk_index = next(
            (i for i, field in enumerate(self.fields) if field.primary_key), None)
        self._converters: list[tuple[int, list, object]] | None = None

    def __len__(self) -> int:
        return len(self.fields)

    def _converters_of(self) -> list[tuple[int, list, object]]:
        # Built on first use, not at import: the backend's converters need a connection.
        if self._converters is None:
            converters = []
            for i, field in enumerate(self.fields):
                col = field.get_col(self.model._meta.db_table)
                found = connection.ops.get_db_converters(col) + field.get_db_converters(
                    connection)
                if found:
                    converters.append((i, found, col))
            self._converters = converters
        return self._converters

    def instance(self, row: Sequence, start: int = 0) -> Model | None:
        """The instance of the columns at `row[start:start + len(self)]`; None when its
        primary key is NULL (an outer join that matched nothing)."""
        values = list(row[start:start + len(self.fields)])
        if self._pk_index is not None and values[self._pk_index] is None:
            return None
        for i, converters, col in self._converters_of():
            value = values[i]
            for converter in converters:
                value = converter(value, col, connection)
            values[i] = value
        return self.model.from_db(connection.alias, self.attnames, values)


def instances(row: Sequence, *columns: Columns) -> list[Model | None]:
    """The instances of `columns` selected one after the other into `row`."""
    found, start = [], 0
    for part in columns:
        found.append(part.instance(row, start))
        start += len(part)
    return found


def quote(name: str) -> str:
    return connection.ops.quote_name(name)
