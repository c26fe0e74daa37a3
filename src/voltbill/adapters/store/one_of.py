"""``column IN (values)`` for lists whose length varies, with one SQL text whatever the length.

SQLAlchemy renders ``column.in_(values)`` with one placeholder per value, so every new length is a new statement
text. pysqlite compiles each text and keeps the last 128 of them per connection, and SQLite's compiled form grows
with the placeholders: ~1 MiB for an IN list of 5,000 charger ids. A query run every 30 s over the chargers heard
from (``charging.touch_sessions``), or per meter-value batch over that batch's chargers, then compiled a new
statement nearly every time, and the server's memory grew for as long as new lengths turned up
(benchmarks/soak.py). Here the values travel as one parameter instead, and the statement is compiled once:

- SQLite: ``column IN (SELECT value FROM json_each(?))`` with the values as one JSON array (SQLite's JSON functions
  are built in since 3.38); SQLite evaluates the subquery once into a temporary index and looks up ``column``'s
  index with each value, as it does for an IN list.
- PostgreSQL: ``column = ANY(CAST(%s AS TEXT[]))`` with the values as one array.

``pair_of_param`` is the same for two columns at once, ``(a, b) IN (pairs)``, with the pairs as one JSON array of
``[a, b]`` arrays on both (``json_each`` on SQLite, ``jsonb_array_elements`` on PostgreSQL): each pair is looked up
in an index on ``(a, b)``. Two separate ``one_of`` would match every combination of the two lists (one
charger's transaction id with another charger), and so read rows no pair asked for.

Written here because SQLAlchemy has no such form (its ``expanding`` parameters are what render one placeholder per
value). Only for text columns, which is what every id in voltbill is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, ColumnElement, String, Text, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine


class _TextList(TypeDecorator[list[str]]):
    """A list of texts bound as one parameter: a JSON array on SQLite, a ``TEXT[]`` on PostgreSQL."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(Text))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.dumps(value)


class _OneOf(FunctionElement[bool]):
    """``column`` equals one of the values of a ``_TextList`` parameter (compiled per dialect below)."""

    type = Boolean()
    name = "one_of"
    inherit_cache = True


@compiles(_OneOf)
def _one_of_sqlite(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"{column} IN (SELECT value FROM json_each({values}))"


@compiles(_OneOf, "postgresql")
def _one_of_postgresql(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"{column} = ANY(CAST({values} AS TEXT[]))"


def one_of(column: ColumnElement[Any], values: Iterable[str]) -> ColumnElement[bool]:
    """``column IN values``, compiled once for any number of values (none included: then it is false)."""
    return _comparison(column, bindparam(None, list(values), type_=_TextList()))


def one_of_param(column: ColumnElement[Any], key: str) -> ColumnElement[bool]:
    """``one_of`` with the values given at execution, as the parameter ``key`` (a list of texts)."""
    return _comparison(column, bindparam(key, type_=_TextList()))


def _require_text(name: str, *columns: ColumnElement[Any]) -> None:
    for column in columns:
        if not isinstance(column.type, String):
            raise TypeError(f"{name} compares text columns; {column} is {column.type}")


def _comparison(column: ColumnElement[Any], values: ColumnElement[Any]) -> ColumnElement[bool]:
    _require_text("one_of", column)
    # ``as_comparison`` makes it a comparison for SQLAlchemy: a plain boolean function would be written
    # ``... = 1`` in a WHERE on SQLite, which has no boolean type.
    return _OneOf(column, values).as_comparison(1, 2)


class _PairList(TypeDecorator[list[tuple[str, str]]]):
    """Pairs of texts bound as one parameter: a JSON array of two-element arrays."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: list[tuple[str, str]] | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps([list(pair) for pair in value])


class _PairOf(FunctionElement[bool]):
    """``(a, b)`` equals one of the pairs of a ``_PairList`` parameter (compiled per dialect below)."""

    type = Boolean()
    name = "pair_of"
    inherit_cache = True


@compiles(_PairOf)
def _pair_of_sqlite(element: _PairOf, compiler: SQLCompiler, **kw: Any) -> str:
    first, second, pairs = (compiler.process(clause, **kw) for clause in element.clauses)
    return (
        f"({first}, {second}) IN "
        f"(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each({pairs}))"
    )


@compiles(_PairOf, "postgresql")
def _pair_of_postgresql(element: _PairOf, compiler: SQLCompiler, **kw: Any) -> str:
    first, second, pairs = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({first}, {second}) IN (SELECT p->>0, p->>1 FROM jsonb_array_elements(CAST({pairs} AS JSONB)) AS p)"


def pair_of_param(first: ColumnElement[Any], second: ColumnElement[Any], key: str) -> ColumnElement[bool]:
    """``(first, second)`` is one of the pairs given at execution as the parameter ``key`` (a list of 2-tuples)."""
    _require_text("pair_of", first, second)
    return _PairOf(first, second, bindparam(key, type_=_PairList())).as_comparison(1, 2)
