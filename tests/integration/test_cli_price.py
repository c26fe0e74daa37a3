"""``voltbill price`` (CONTRACT.md, command line).

The contract's core cases run as real subprocesses of ``.venv/bin/voltbill``, all at once in a module fixture; the
other cases call the same Typer app in-process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from voltbill.cli import app

VOLTBILL = Path(sys.executable).parent / "voltbill"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "tariffs"
COMPLEX = FIXTURES / "spec_4_complex"
TARIFF = COMPLEX / "tariff.json"
CDR = COMPLEX / "cdr_monday_16a.json"


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _write(folder: Path, name: str, data: Any) -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _bad_tariff(folder: Path, change: dict[str, Any]) -> Path:
    tariff = _load(TARIFF)
    tariff["elements"][0]["price_components"][0].update(change)
    return _write(folder, "t.json", tariff)


def _bad_cdr(folder: Path, change: dict[str, Any]) -> Path:
    return _write(folder, "c.json", {**_load(CDR), **change})


def _tokyo(folder: Path) -> list[Any]:
    cdr = _load(CDR)
    del cdr["cdr_location"]
    cdr["total_cost"] = {"excl_vat": 1, "incl_vat": 1}
    return ["--tariff", TARIFF, "--cdr", _write(folder, "c.json", cdr), "--timezone", "Asia/Tokyo"]


def _long_volume(folder: Path) -> list[Any]:
    cdr = _load(COMPLEX / "cdr_saturday_43a.json")
    cdr["charging_periods"][1]["dimensions"][0]["volume"] = "1.1833333333333333333"
    return ["--tariff", TARIFF, "--cdr", _write(folder, "c.json", cdr)]


def _array(folder: Path) -> list[Any]:
    expired = {**_load(TARIFF), "id": "old", "end_date_time": "2015-01-01T00:00:00Z"}
    current = _load(FIXTURES / "spec_1_simple_2hour" / "tariff.json")
    del current["party_id"]
    return [
        "--tariff",
        _write(folder, "t.json", [expired, current]),
        "--cdr",
        FIXTURES / "spec_1_simple_2hour" / "cdr_2h30.json",
    ]


SUBPROCESS_CASES: dict[str, Callable[[Path], list[Any]]] = {
    "saturday": lambda d: ["--tariff", TARIFF, "--cdr", COMPLEX / "cdr_saturday_43a.json"],
    "array": _array,
    "malformed-json": lambda d: ["--tariff", _write(d, "t.json", '{"id": "x", '), "--cdr", CDR],
    "unknown-enum": lambda d: ["--tariff", _bad_tariff(d, {"type": "PER_KWH"}), "--cdr", CDR],
    "negative-price": lambda d: ["--tariff", _bad_tariff(d, {"price": -2.5}), "--cdr", CDR],
    "end-before-start": lambda d: ["--tariff", TARIFF, "--cdr", _bad_cdr(d, {"end_date_time": "2025-06-01T00:00:00Z"})],
}  # fmt: skip
IN_PROCESS_CASES: dict[str, Callable[[Path], list[Any]]] = {
    "monday": lambda d: ["--tariff", TARIFF, "--cdr", CDR],
    "tokyo": _tokyo,
    "long-volume": _long_volume,
    "nan-price": lambda d: ["--tariff", _bad_tariff(d, {"price": "NaN"}), "--cdr", CDR],
    "missing-file": lambda d: ["--tariff", TARIFF, "--cdr", d / "missing.json"],
    "unknown-zone": lambda d: ["--tariff", TARIFF, "--cdr", CDR, "--timezone", "Mars/Olympus"],
    "currency-mismatch": lambda d: ["--tariff", TARIFF, "--cdr", _bad_cdr(d, {"currency": "USD"})],
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def run(name: str) -> subprocess.CompletedProcess[str]:
        args = SUBPROCESS_CASES[name](tmp_path_factory.mktemp(name))
        command = [str(VOLTBILL), "price", *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(max_workers=len(SUBPROCESS_CASES)) as pool:
        results: dict[str, Any] = dict(zip(SUBPROCESS_CASES, pool.map(run, SUBPROCESS_CASES), strict=True))
    runner = CliRunner()
    for name, make_args in IN_PROCESS_CASES.items():
        args = ["price", *map(str, make_args(tmp_path_factory.mktemp(name)))]
        outcome = runner.invoke(app, args)
        results[name] = subprocess.CompletedProcess(args, outcome.exit_code, outcome.stdout, outcome.stderr)
    return results


def test_a_cdr_is_priced_and_printed_as_ocpi_json_with_all_totals(runs: dict[str, Any]) -> None:
    result = runs["saturday"]

    assert result.returncode == 0, result.stderr
    cdr = json.loads(result.stdout)
    assert cdr["total_cost"] == {"excl_vat": "12.3750", "incl_vat": "13.9750"}
    for field in ("total_fixed_cost", "total_energy", "total_energy_cost", "total_time", "total_time_cost",
                  "total_parking_time", "total_parking_cost"):  # fmt: skip
        assert field in cdr, field
    assert cdr["tariffs"][0]["id"] == "14"
    assert {p["tariff_id"] for p in cdr["charging_periods"]} == {"14"}
    assert result.stderr == ""


def test_volumes_are_json_numbers_with_exact_decimals(runs: dict[str, Any]) -> None:
    # OCPI 2.2.1 types, number: volumes are JSON numbers (amounts stay decimal strings, CONTRACT.md).
    stdout = runs["saturday"].stdout
    for line in ('"total_energy": 40.0000,', '"total_time": 3.0833,', '"total_parking_time": 1.1833,'):
        assert line in stdout
    assert '"volume": 1.1833333333' in stdout
    # 20 significant digits: a float would print 1.1833333333333333.
    assert '"volume": 1.1833333333333333333\n' in runs["long-volume"].stdout


def test_the_timezone_option_overrides_the_location_and_input_totals_are_recomputed(runs: dict[str, Any]) -> None:
    default, tokyo = json.loads(runs["monday"].stdout), json.loads(runs["tokyo"].stdout)
    assert default["total_parking_cost"]["excl_vat"] == "3.7500"
    # In Tokyo the parking (10:15 UTC) falls after 18:00 local, where this tariff has no parking price.
    assert tokyo["total_parking_cost"]["excl_vat"] == "0.0000"
    assert tokyo["total_cost"]["excl_vat"] == "5.2500"


def test_the_first_tariff_of_an_array_that_covers_the_session_applies_with_warnings(runs: dict[str, Any]) -> None:
    result = runs["array"]
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tariffs"][0]["id"] == "12"
    assert result.stderr.startswith("warning: ")
    assert "$[1].party_id" in result.stderr


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("malformed-json", "not valid JSON"),
        ("unknown-enum", "$.elements[0].price_components[0].type"),
        ("negative-price", "$.elements[0].price_components[0].price"),
        ("nan-price", "$.elements[0].price_components[0].price"),
        ("end-before-start", "$.end_date_time"),
        ("missing-file", "cannot read"),
        ("unknown-zone", "--timezone"),
        ("currency-mismatch", "$.currency"),
    ],
)
def test_invalid_input_is_one_error_line_naming_the_field_with_exit_code_2(
    runs: dict[str, Any], case: str, named: str
) -> None:
    result = runs[case]

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert named in lines[0]
    assert "Traceback" not in result.stderr
