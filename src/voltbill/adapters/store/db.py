"""Engines and the unit of work. SQLite gets WAL and foreign keys; PostgreSQL uses psycopg 3."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from voltbill.domain import json_text

CONNECT_TIMEOUT_S = 10
READ_ONLY_OPTION = "voltbill_read_only"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``. SQLite: WAL, foreign keys, a busy timeout, IMMEDIATE write transactions.

    JSON columns keep decimals exact: a ``Decimal`` is stored as a JSON number with its digits (a CDR's volumes)
    and read back as a ``Decimal``, never as a float.
    """
    url = normalise_url(url)
    kwargs.setdefault("json_serializer", json_text.dumps)
    kwargs.setdefault("json_deserializer", json_text.loads)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, open transactions, so BEGIN IMMEDIATE takes the write lock up front
            # (SQLite's single writer is what serialises invoice numbering and wallet debits).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Read-only units of work (``Database.read_uow``) begin DEFERRED: in WAL mode they read a snapshot and
            # never wait for the writer.
            read_only = conn.get_execution_options().get(READ_ONLY_OPTION)
            conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    if "connect_timeout" not in make_url(url).query:
        # libpq waits forever for an unreachable host by default; a request or worker then hangs instead of failing
        # (and /healthz answering 503). A URL may set its own ``?connect_timeout=``.
        kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT_S})
    return create_engine(url, **kwargs)


class UnitOfWork:
    """One database transaction. Leaving the ``with`` block without ``commit()`` rolls back (cosmicpython)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    @property
    def is_postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"


class Database:
    """An engine and its session factory; hands out units of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False
        )

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    def read_uow(self) -> UnitOfWork:
        """A unit of work that only reads: on SQLite it does not take the write lock (nothing it does commits)."""
        return UnitOfWork(self._read_sessions)

    def dispose(self) -> None:
        self.engine.dispose()
