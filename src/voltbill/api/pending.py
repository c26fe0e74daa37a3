"""``GET /api/v1/pending``: the operator's queued work (pending captures, e-mails, unsettled and unpriced CDRs,
sessions closed by timeout), each with its count and oldest age."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from voltbill.api.deps import ClockDep, OperatorDep, UowDep
from voltbill.services.pending import pending_json, pending_work

router = APIRouter(prefix="/api/v1", tags=["operations"])


@router.get("/pending", summary="Queued work not done yet, per kind, with count and oldest age")
def pending(caller: OperatorDep, uow: UowDep, clock: ClockDep) -> dict[str, Any]:
    """``{"total", "items": [{"kind", "description", "count", "oldest_at", "oldest_age_s"}]}``."""
    return pending_json(pending_work(uow, caller.operator_id), clock.now())
