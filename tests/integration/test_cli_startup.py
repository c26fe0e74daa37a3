"""``voltbill --help`` and ``voltbill price`` start without the web, database, analytics, document and payment
stacks: command modules import those inside the command functions (see ``voltbill.cli``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voltbill import cli
from voltbill.services import access

COMPLEX = Path(__file__).parents[1] / "fixtures" / "tariffs" / "spec_4_complex"
HEAVY = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "duckdb", "pyarrow", "typst", "facturx",
         "pypdf", "stripe", "websockets", "ocpp", "jsonschema", "psycopg")  # fmt: skip
# Runs the console entry point in a fresh interpreter, then names the heavy packages it imported.
PROBE = """
import json, sys
from voltbill.cli import app
try:
    app(sys.argv[1:], prog_name="voltbill")
except SystemExit:
    pass
print("loaded:", json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(HEAVY)))))
"""


def _run(*args: str) -> tuple[str, list[str]]:
    probe = PROBE.replace("HEAVY", repr(json.dumps(HEAVY)))
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120)
    output, _, loaded = done.stdout.rpartition("loaded: ")
    assert loaded, done.stderr
    return output, json.loads(loaded)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["price", "--tariff", str(COMPLEX / "tariff.json"), "--cdr", str(COMPLEX / "cdr_saturday_43a.json")],
        ["analytics", "--help"],
        ["invoices", "run-monthly", "--help"],
    ],
    ids=["help", "price", "analytics-help", "invoices-run-monthly-help"],
)
def test_help_and_offline_pricing_import_no_server_database_or_analytics_package(args: list[str]) -> None:
    output, loaded = _run(*args)

    assert loaded == []
    assert output.strip(), "the command printed nothing"


def test_the_help_still_lists_every_command() -> None:
    output, _ = _run("--help")

    for command in ("analytics", "backup", "demo", "invoices", "ledger", "migrate", "operators", "payments", "price",
                    "restore", "serve", "simulate", "status", "users"):  # fmt: skip
        assert f" {command} " in output, command


def test_the_cli_default_operator_is_the_services_default_operator() -> None:
    assert cli.DEFAULT_OPERATOR_ID == access.DEFAULT_OPERATOR_ID
