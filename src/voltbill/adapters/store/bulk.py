"""Multi-row ``INSERT ... ON CONFLICT DO NOTHING`` for the hot write paths.

A list of rows goes to the driver as ``executemany``. pysqlite then runs one ``sqlite3_step`` per row and releases
and re-takes the GIL around each, so in a server whose event loop holds the GIL most of the time every row waits
for a thread switch (the convoy effect; see ``adapters/ocpp/gateway.py``). On SQLite the rows are therefore sent
as one statement with many ``VALUES`` tuples (stepped once), bound through the columns' own SQLAlchemy types.
PostgreSQL keeps ``executemany``, which psycopg 3 pipelines into one round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

_SQLITE_MAX_VARIABLES = 32_766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32

_processors: dict[tuple[str, str, str], Callable[[Any], Any] | None] = {}


def _processor(table: Table, column: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    key = (table.name, column, dialect.name)
    if key not in _processors:
        _processors[key] = table.c[column].type.bind_processor(dialect)
    return _processors[key]


def insert_ignoring_duplicates(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``; a row that breaks a unique constraint (a replay)
    is skipped."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        session.execute(postgresql.insert(table).on_conflict_do_nothing(), list(rows))
        return
    columns = list(rows[0])
    processors = [_processor(table, name, dialect) for name in columns]
    quote = dialect.identifier_preparer.quote
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES "
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    per_statement = _SQLITE_MAX_VARIABLES // len(columns)
    for first in range(0, len(rows), per_statement):
        chunk = rows[first : first + per_statement]
        params: list[Any] = []
        for row in chunk:
            for name, process in zip(columns, processors, strict=True):
                value = row[name]
                params.append(process(value) if process is not None else value)
        sql = head + ", ".join([placeholders] * len(chunk)) + " ON CONFLICT DO NOTHING"
        connection.exec_driver_sql(sql, tuple(params))
