"""``voltbill backup`` and ``voltbill restore`` bring a database back to the state of the backup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from voltbill.adapters.store.db import Database
from voltbill.domain.clock import SystemClock
from voltbill.services.access import ensure_operator
from voltbill.services.registry import get_driver, upsert_driver


def _voltbill(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VOLTBILL_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "voltbill", *args], env=env, cwd=cwd, capture_output=True, text=True)


def _add_driver(db: Database, driver_id: str) -> None:
    with db.uow() as uow:
        upsert_driver(
            uow, "default", driver_id, name="Ana", email="a@example.com", payment_method="card", clock=SystemClock()
        )


def test_a_restored_backup_has_the_records_of_backup_time_and_not_the_later_ones(
    api_database_url: str, tmp_path: Path
) -> None:
    db = Database(api_database_url)
    with db.uow() as uow:
        ensure_operator(uow, "default", clock=SystemClock())
    _add_driver(db, "BEFORE")
    file = tmp_path / "voltbill.backup"
    made = _voltbill(api_database_url, tmp_path, "backup", "--to", str(file))
    assert made.returncode == 0, made.stderr
    assert file.stat().st_size > 0
    _add_driver(db, "AFTER")
    db.dispose()
    restored = _voltbill(api_database_url, tmp_path, "restore", "--from", str(file))
    assert restored.returncode == 0, restored.stderr
    db = Database(api_database_url)
    with db.uow() as uow:
        assert get_driver(uow, "BEFORE") is not None
        assert get_driver(uow, "AFTER") is None
    db.dispose()


def test_restoring_a_file_that_is_not_a_backup_is_refused_with_one_line(sqlite_url: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    done = _voltbill(sqlite_url, tmp_path, "restore", "--from", str(junk))
    assert done.returncode == 2
    assert done.stderr.startswith("error: file: ") and done.stderr.count("\n") == 1
