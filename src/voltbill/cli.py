"""The ``voltbill`` command. Results go to stdout, progress and errors to stderr.

Errors are one line (``error: ...``) with exit code 2 for invalid input or usage, 1 for other failures;
``--debug`` shows the traceback.

Start-up stays short: command modules import only Typer, Rich and the domain at the top; the web, database,
analytics, document and payment stacks are imported inside the command functions that use them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from voltbill.domain.errors import InvalidInput, VoltbillError

# The default tenant, ``services.access.DEFAULT_OPERATOR_ID``, spelled here so that option defaults need no database
# imports (tests/integration/test_cli_startup.py keeps the two equal).
DEFAULT_OPERATOR_ID = "default"

app = typer.Typer(help="voltbill: billing and payments for EV charging.", no_args_is_help=True)
stderr = Console(stderr=True)

_state = {"debug": False}

P = ParamSpec("P")
R = TypeVar("R")


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    """voltbill: OCPP in, priced OCPI CDRs, payments, invoices and analytics out."""
    _state["debug"] = debug


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line on stderr and return the Exit to raise."""
    stderr.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def one_line_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn any failure of a command into one stderr line and the contract's exit code."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _state["debug"]:
                raise
            if isinstance(exc, InvalidInput):
                raise fail(str(exc), 2) from None
            if isinstance(exc, VoltbillError):
                raise fail(str(exc), 1) from None
            raise fail(f"{type(exc).__name__}: {exc}", 1) from None

    return wrapper


def run() -> None:  # pragma: no cover - console entry for `python -m voltbill`
    sys.exit(app())


from voltbill.commands import (  # noqa: E402
    analytics,  # noqa: F401
    demo,  # noqa: F401
    invoices,  # noqa: F401
    payments,  # noqa: F401
    price,  # noqa: F401
    server,  # noqa: F401
    simulate,  # noqa: F401
    status,  # noqa: F401
)
