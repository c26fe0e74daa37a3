import csv
import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from store_data import seed
from typer.testing import CliRunner

from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.cli import app
from voltbill.config import get_settings


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, seeded SQLite file, made once and copied for each test."""
    path = tmp_path_factory.mktemp("analytics-cli") / "template.db"
    url = f"sqlite:///{path}"
    migrate(url)
    db = Database(url)
    seed(db)
    db.dispose()
    return path


@pytest.fixture
def cli_db(seeded_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    shutil.copy(seeded_template, tmp_path / "cli.db")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("VOLTBILL_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_revenue_is_printed_and_exported_with_exact_sums(cli_db, tmp_path) -> None:
    code, out, _ = run("analytics", "revenue", "--period", "month", "--csv", "r.csv", "--parquet", "r.parquet")
    assert code == 0
    assert "total 6.0000 EUR excl. VAT for 20.0000 kWh" in out
    [row] = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert (row["period_start"], row["revenue_excl_vat"], row["revenue_incl_vat"]) == ("2025-03-01", "6.0000", "7.1400")
    assert pq.read_table(tmp_path / "r.parquet").column("revenue_excl_vat").to_pylist() == [Decimal("6.0000")]


def test_anomalies_are_listed_and_a_check_hides_one_from_the_unreviewed_list(cli_db) -> None:
    code, out, _ = run("analytics", "anomalies")
    assert code == 0
    assert "capture_mismatch" in out and "charged_zero_energy" in out and "never_stopped" in out

    code, out, _ = run("analytics", "check", "S-ZERO", "charged_zero_energy", "--note", "flat fee", "--by", "ana")
    assert (code, out.strip()) == (0, "S-ZERO charged_zero_energy: checked by ana")
    code, out, _ = run("analytics", "anomalies", "--unreviewed")
    assert "S-CAPTURE" in out and "S-ZERO" not in out


def test_an_export_can_be_analysed_without_the_database(cli_db, tmp_path) -> None:
    code, out, _ = run("analytics", "export", "--parquet", "history")
    assert code == 0 and "sessions.parquet (4 rows)" in out
    code, out, _ = run("analytics", "usage", "--by", "location", "--input", "history")
    assert code == 0 and "LOC-A" in out
    code, out, _ = run("analytics", "peaks", "--input", "history", "--location", "LOC-A")
    assert code == 0 and "busiest: Mon 09:00" in out
    code, out, _ = run("analytics", "placement", "--input", "history", "--area")
    assert code == 0 and "871f1d489ffffff" in out


def test_whatif_reprices_recent_sessions_with_a_tariff_file(cli_db, tmp_path) -> None:
    tariff = {
        "id": "NEW",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": "0.50", "vat": 19, "step_size": 1}]}],
    }
    (tmp_path / "new.json").write_text(json.dumps(tariff))
    code, out, _ = run("analytics", "whatif", "--tariff", "new.json", "--days", "5000", "--csv", "w.csv")
    assert code == 0, out
    total = list(csv.DictReader((tmp_path / "w.csv").open()))[-1]
    assert (total["key"], total["current_excl_vat"], total["proposed_excl_vat"]) == ("total", "6.0000", "10.0000")


def test_invalid_options_fail_with_one_line_and_exit_code_2(cli_db) -> None:
    code, _, err = run("analytics", "revenue", "--from", "last week")
    assert code == 2
    assert err.strip() == "error: --from: 'last week' is not an ISO date or datetime (2025-06-01, 2025-06-01T08:00)"
    code, _, err = run("analytics", "usage", "--by", "planet")
    assert code == 2 and err.startswith("error: --by:")
