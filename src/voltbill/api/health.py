"""``GET /healthz``: 200 when the server and its database answer, 503 otherwise."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from voltbill.api.deps import DbDep
from voltbill.api.errors import problem

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get(
    "/healthz",
    summary="Liveness and database check",
    responses={503: {"description": "The database does not answer."}},
)
def healthz(db: DbDep) -> Any:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("health check: database unavailable: %s", exc)
        return problem(503, "database_unavailable", "the database does not answer.")
    return JSONResponse({"status": "ok", "database": "ok"})
