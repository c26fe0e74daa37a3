"""Multi-row ``INSERT ... ON CONFLICT DO NOTHING`` for the hot write paths (meter values, status history).

A list of rows sent as ``executemany`` costs one statement per row. pysqlite then runs one ``sqlite3_step`` per row
and releases and re-takes the GIL around each, so in a server whose event loop holds the GIL most of the time every
row waits for a thread switch (the convoy effect; see ``adapters/ocpp/gateway.py``); psycopg 3 pipelines the rows
into one round trip, but PostgreSQL still plans and executes an INSERT per row. So:

- SQLite: statements with many ``VALUES`` tuples each (stepped once), in a few fixed sizes (``_chunk_sizes``).
- PostgreSQL: ``INSERT ... SELECT (r->>0)::type, ... FROM jsonb_array_elements(%s::jsonb) AS r``: the rows
  travel as one JSON text, whatever their number, so the statement text never changes and psycopg prepares it once
  per connection. JSON rather than one array per column because psycopg adapts lists element by element in Python:
  for 1,600 meter value rows that took ~11 ms of the writer thread's CPU (and of the GIL) against ~4 ms with
  ``json.dumps``, for the same ~12 ms of PostgreSQL's CPU (``jsonb``: parsed once; with ``json`` each ``->>``
  parses its row again, ~17 ms). Each value is cast to its column's type without the length or precision, so the
  INSERT's own assignment enforces them as it does for a plain INSERT (an explicit ``::varchar(40)`` would cut a
  longer value short without an error).

Values are bound through the columns' own SQLAlchemy types, as the ORM would bind them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

_SQLITE_MAX_VARIABLES = 32_766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32


@dataclass(frozen=True)
class _Insert:
    """What a bulk insert into one table with one set of columns needs, built once per dialect."""

    processors: tuple[Callable[[Any], Any] | None, ...]  # the columns' bind processors (None: the value as is)
    head: str  # INSERT INTO table (columns)
    postgresql_rows: str  # PostgreSQL: the rest of the statement, the SELECT from the JSON rows (SQLite: empty)


_inserts: dict[tuple[str, tuple[str, ...], str], _Insert] = {}


def _insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Insert:
    key = (table.name, columns, dialect.name)
    found = _inserts.get(key)
    if found is None:
        quote = dialect.identifier_preparer.quote
        postgresql_rows = ""
        if dialect.name == "postgresql":
            values = ", ".join(f"(r->>{i})::{_base_type(table, name, dialect)}" for i, name in enumerate(columns))
            postgresql_rows = f"SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS r ON CONFLICT DO NOTHING"
        found = _inserts[key] = _Insert(
            processors=tuple(table.c[name].type.bind_processor(dialect) for name in columns),
            head=f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) ",
            postgresql_rows=postgresql_rows,
        )
    return found


def insert_ignoring_duplicates(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``; a row that breaks a unique constraint (a replay)
    is skipped."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    columns = tuple(rows[0])
    insert = _insert(table, columns, dialect)
    pairs = list(zip(columns, insert.processors, strict=True))
    bound = [[process(row[name]) if process is not None else row[name] for name, process in pairs] for row in rows]
    if dialect.name == "postgresql":
        sql = insert.head + insert.postgresql_rows
        connection.exec_driver_sql(sql, (json.dumps(bound, default=_json_value),))
        return
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    first = 0
    for size in _chunk_sizes(len(rows), _SQLITE_MAX_VARIABLES // len(columns)):
        params = tuple(value for values in bound[first : first + size] for value in values)
        first += size
        sql = insert.head + "VALUES " + ", ".join([placeholders] * size) + " ON CONFLICT DO NOTHING"
        connection.exec_driver_sql(sql, params)


def _base_type(table: Table, column: str, dialect: Dialect) -> str:
    """The column's SQL type without its modifiers (``VARCHAR(40)`` -> ``VARCHAR``)."""
    return str(table.c[column].type.compile(dialect=dialect)).split("(", 1)[0]


def _json_value(value: Any) -> str:
    """What ``json.dumps`` cannot write itself: times as ISO 8601 (with their offset), anything else as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _chunk_sizes(rows: int, most: int) -> Iterator[int]:
    """Statement sizes (rows per INSERT) for ``rows`` rows: powers of two, none above ``most``, largest first.

    pysqlite keeps the last 128 prepared statements of each connection, keyed by their text. With one statement per
    batch, every new batch size compiled a statement of its own and kept it: ~0.3 MiB for 200 meter value rows, so
    batches of 1-400 rows filled ~36 MiB per connection, and the server's memory grew for as long as new sizes
    turned up (benchmarks/soak.py). Powers of two give a dozen texts per table, each compiled once per connection.
    """
    largest = 1 << (most.bit_length() - 1)
    while rows:
        size = min(largest, 1 << (rows.bit_length() - 1))
        yield size
        rows -= size
