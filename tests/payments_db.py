"""Fast migrated databases for the payments tests: migrate once per test session, then copy per test.

SQLite: a migrated template file is copied. PostgreSQL: a migrated template database is cloned with
``CREATE DATABASE ... TEMPLATE`` (dropped after the test; the template when the session ends). PostgreSQL being
unreachable skips locally and fails when ``CI=true``, as the shared ``database_url`` fixture does.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from voltbill.adapters.store.migrate import migrate

PG_ADMIN_DSN = os.environ.get("VOLTBILL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
_templates: dict[str, str] = {}


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_ADMIN_DSN} is required in CI and is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable locally: {exc}")


def _sqlite_template() -> str:
    if "sqlite" not in _templates:
        folder = Path(tempfile.mkdtemp(prefix="voltbill-payments-"))
        atexit.register(shutil.rmtree, folder, True)
        migrate(f"sqlite:///{folder / 'template.db'}")
        _templates["sqlite"] = str(folder / "template.db")
    return _templates["sqlite"]


def _drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_template() -> str:
    if "postgresql" not in _templates:
        name = f"voltbill_tmpl_{secrets.token_hex(6)}"
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        atexit.register(_drop, name)
        migrate(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        _templates["postgresql"] = name
    return _templates["postgresql"]


@contextmanager
def migrated_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of ``kind`` (``sqlite`` or ``postgresql``) for one test; its SQLAlchemy URL."""
    if kind == "sqlite":
        target = tmp_path / "voltbill.db"
        shutil.copyfile(_sqlite_template(), target)
        yield f"sqlite:///{target}"
        return
    template = _postgres_template()
    name = f"voltbill_test_{secrets.token_hex(6)}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        _drop(name)
