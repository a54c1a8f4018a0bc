"""``field__any=values``: "column in a (big) list" as one array parameter on PostgreSQL.

``field__in=values`` is written ``col IN (%s, %s, ...)``: one placeholder per value. With psycopg 3's
client-side binding that text is split at every execution (psycopg caches the split only for texts
under 4 KB and 50 parameters) and each value is dumped as its own literal, on top of Django's
placeholder per value: for the ingestion's lists of thousands of ids most of a query's client time.
``field__any=values`` selects the same rows, but PostgreSQL gets ``col = ANY(%s::type[])``: one list
parameter, one short query text whatever the length. Elsewhere (SQLite) it *is* the ``In`` lookup.

Same meaning as ``__in``: each value prepared by the field, None dropped (NULL equals nothing), an
empty list matches nothing (EmptyResultSet, as ``In`` raises), a queryset stays ``IN (SELECT ...)``.
Registered on every field (and its related variant on foreign keys) by ``UsageConfig.ready``.
``any_chunks`` slices a list for such queries: SQLite still binds one parameter per value.
"""

import re
from collections.abc import Iterator, Sequence
from typing import TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, ForeignObject
from django.db.models.expressions import ColPairs
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In
from django.utils.datastructures import OrderedSet

T = TypeVar("T")
IN_CHUNK = 900  # values per IN (...) list off PostgreSQL: SQLite's old bound-parameter limit is 999

# Column types whose values psycopg sends as a plain array: anything else (JSON, arrays, network
# addresses, ...) keeps the ``IN`` list, whose per-value conversions Django already knows.
_ARRAY_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "CharField",
        "SlugField",
        "TextField",
        "UUIDField",
        "DateField",
        "DateTimeField",
        "DecimalField",
        "BooleanField",
    }
)
# "varchar(64)" -> "varchar": an explicit cast to varchar(n) *truncates* (a longer value would then
# equal a stored prefix of it), and numeric(p, s) would round; the column compares with the bare type.
_TYPE_MODIFIER = re.compile(r"\(\s*\d+\s*(,\s*\d+\s*)?\)")


def _array_type(field: Field, connection) -> str | None:
    """The element type of the array ``field``'s values travel in, or None for the ``IN`` list."""
    target = getattr(field, "target_field", None) or field  # a foreign key compares as its target
    if target.get_internal_type() not in _ARRAY_TYPES:
        return None
    db_type = field.db_type(connection)
    return bare_db_type(db_type) if db_type else None


def bare_db_type(db_type: str) -> str:
    """A column type without its modifier: ``varchar(64)`` -> ``varchar``, ``numeric(18, 8)`` ->
    ``numeric`` (the element type of a lookup's array, a binary COPY's column type)."""
    return _TYPE_MODIFIER.sub("", db_type)


def _array_text(values: list) -> list | str:
    """Strings or integers as one PostgreSQL array text (``{"a","b\\"c"}``, ``{1,2}``), which the
    cast reads; other values as the list psycopg dumps. psycopg's list dumper quotes value by value
    in Python, which costs far more client CPU than one text built here."""
    if all(type(value) is str for value in values):
        # Every element quoted, so no value is read as NULL, trimmed or split at a comma.
        return "{" + ",".join(['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]) + "}"
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    return values


class AnyOf(In):
    """``field__any=values``: ``field__in=values`` with the values as one PostgreSQL array."""

    lookup_name = "any"

    def as_postgresql(self, compiler, connection) -> tuple[str, tuple]:
        field = self.lhs.output_field
        array_type = None if isinstance(self.lhs, ColPairs) else _array_type(field, connection)
        if array_type is None or not self.rhs_is_direct_value():
            return self.as_sql(compiler, connection)  # In's SQL: value list or subquery
        # As In.process_rhs: None never matches, duplicates do nothing, nothing matches nothing.
        try:
            values = OrderedSet(self.rhs)
            values.discard(None)
        except TypeError:  # unhashable values
            values = [value for value in self.rhs if value is not None]
        if not values:
            raise EmptyResultSet
        if any(hasattr(value, "resolve_expression") for value in values):
            return self.as_sql(compiler, connection)  # expressions compile per value
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        # Values were get_prep_value'd by In.get_prep_lookup; the db step is the one In applies too.
        target = getattr(field, "target_field", None) or field
        params = [target.get_db_prep_value(value, connection, prepared=True) for value in values]
        return f"{lhs_sql} = ANY(%s::{array_type}[])", (*lhs_params, _array_text(params))


class RelatedAnyOf(RelatedIn, AnyOf):
    """``fk__any=values`` / ``fk_id__any=values``: model instances or ids, as ``RelatedIn`` takes."""

    lookup_name = "any"


def register() -> None:
    Field.register_lookup(AnyOf)
    ForeignObject.register_lookup(RelatedAnyOf)


def any_chunks(values: Sequence[T], *, using: str = DEFAULT_DB_ALIAS) -> Iterator[Sequence[T]]:
    """``values`` in slices for ``field__any`` queries: whole on PostgreSQL (one array parameter,
    so one query instead of one per slice), IN_CHUNK values at a time elsewhere."""
    size = len(values) if connections[using].vendor == "postgresql" else IN_CHUNK
    for start in range(0, len(values), size or 1):
        yield values[start : start + size]
