"""Database backup and restore: SQLite through its online backup API, PostgreSQL through pg_dump/pg_restore."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from voltbill.adapters.store.db import normalise_url
from voltbill.domain.errors import InvalidInput, VoltbillError


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(normalise_url(url))
    if not parsed.drivername.startswith("sqlite"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise InvalidInput("an in-memory SQLite database cannot be backed up.", field="VOLTBILL_DATABASE_URL")
    return Path(parsed.database)


def libpq_url(url: str) -> str:
    """The URL as pg_dump/psql understand it (``postgresql://``, no SQLAlchemy driver suffix)."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def pg_commands(url: str, file: Path) -> tuple[list[str], list[str]]:
    """The pg_dump and pg_restore command lines for ``url`` and ``file``."""
    target = libpq_url(url)
    dump = ["pg_dump", "--format=custom", f"--file={file}", target]
    restore = [
        "pg_restore",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        f"--dbname={target}",
        str(file),
    ]
    return dump, restore


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise VoltbillError(f"{command[0]} is not installed; run: {' '.join(command)}", code="tool_missing")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise VoltbillError(f"{command[0]} failed: {last}", code="backup_failed")


def _check_voltbill_sqlite(path: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            ok = conn.execute("PRAGMA integrity_check").fetchone()
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{path} is not a SQLite database: {exc}.", field="file") from exc
    if ok != ("ok",) or "alembic_version" not in tables:
        raise InvalidInput(f"{path} is not an intact voltbill database.", field="file")


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent page-by-page copy, taking the proper locks on both files."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def backup(url: str, file: Path) -> None:
    """Copy the database at ``url`` to ``file``. SQLite: consistent while the server keeps writing."""
    source = _sqlite_path(url)
    if source is None:
        _run(pg_commands(url, file)[0])
        return
    if not source.exists():
        raise InvalidInput(f"there is no database at {source}.", field="VOLTBILL_DATABASE_URL")
    file.unlink(missing_ok=True)
    _copy_sqlite(source, file)
    _check_voltbill_sqlite(file)


def restore(url: str, file: Path) -> None:
    """Replace the database at ``url`` with the backup in ``file``. Stop the server first."""
    if not file.exists():
        raise InvalidInput(f"there is no backup at {file}.", field="file")
    target = _sqlite_path(url)
    if target is None:
        _run(pg_commands(url, file)[1])
        return
    _check_voltbill_sqlite(file)
    _copy_sqlite(file, target)
