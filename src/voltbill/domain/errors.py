"""The one error base class. Edges translate it (OCPP CallError, HTTP problem JSON, CLI line)."""

from __future__ import annotations


class VoltbillError(Exception):
    """A failure with a stable snake_case ``code`` and a one-sentence ``message``.

    ``field`` names the failing input (a JSON path such as ``$.elements[0].price_components[1].price``)
    when the error is about input.
    """

    code: str = "voltbill_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidInput(VoltbillError):
    """Input that can never be processed as given (maps to CLI exit 2, HTTP 422)."""

    code = "invalid_input"


class NotFound(VoltbillError):
    """A referenced record does not exist."""

    code = "not_found"


class Conflict(VoltbillError):
    """A state change that is not allowed from the current state."""

    code = "conflict"
