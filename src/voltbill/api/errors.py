"""HTTP problem JSON: every error answers ``{"code", "message", "field"?}`` with a stable snake_case ``code``.

``VoltbillError``: 422 for ``InvalidInput``, 404 ``NotFound``, 409 ``Conflict``, 401/403 for the auth errors here.
FastAPI's own request validation, unknown routes and wrong methods answer in the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from voltbill.domain.errors import Conflict, InvalidInput, NotFound, VoltbillError

log = logging.getLogger(__name__)


class Unauthorized(VoltbillError):
    """No or unknown credentials (HTTP 401)."""

    code = "unauthorized"


class Forbidden(VoltbillError):
    """Known caller without the right for this call (HTTP 403)."""

    code = "forbidden"


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """The error body: a stable ``code``, a one-sentence ``message``, the failing ``field`` on 422, and for
    request validation every failing field in ``errors``."""

    code: str
    message: str
    field: str | None = None
    errors: list[FieldProblem] | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No or unknown API key."},
    403: {"model": Problem, "description": "The key may not do this (staff keys are read-only)."},
    404: {"model": Problem, "description": "No such record for this operator."},
    409: {"model": Problem, "description": "The id belongs to another operator, or a concurrent change."},
    422: {"model": Problem, "description": "Invalid input; `field` names it."},
}

STATUS = {InvalidInput: 422, NotFound: 404, Conflict: 409, Unauthorized: 401, Forbidden: 403}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def status_of(exc: VoltbillError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def problem(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> JSONResponse:
    """A JSON error response in the house shape."""
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def json_path(loc: tuple[int | str, ...]) -> str:
    """FastAPI's error location as the field name: ``$.location.country`` for bodies, ``limit`` for queries."""
    where, *rest = loc or ("body",)
    if where != "body":
        return ".".join(str(p) for p in rest) or str(where)
    path = "$"
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _validation_message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    return msg[0].lower() + msg[1:] + "." if msg else "invalid value."


async def _voltbill_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VoltbillError)
    return problem(status_of(exc), exc.code, exc.message, exc.field)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": json_path(tuple(e.get("loc", ()))), "message": _validation_message(e)} for e in exc.errors()
    ] or [{"field": "$", "message": "invalid request."}]
    first = errors[0]
    return problem(422, "invalid_input", f"{first['field']}: {first['message']}", first["field"], errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = f"no resource at {request.url.path}."
    response = problem(exc.status_code, code, message)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal_error", "the server failed to handle this request; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    app.add_exception_handler(VoltbillError, _voltbill_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
