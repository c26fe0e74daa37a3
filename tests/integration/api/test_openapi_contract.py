"""Property-based contract test: requests generated from ``/openapi.json`` never get a 500 or an answer that
breaks the published schema. Fixed seed and example budget, so a run is repeatable and takes well under a minute."""

from __future__ import annotations

import warnings
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from voltbill.config import Settings

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
EXAMPLES_PER_OPERATION = 6


def test_generated_requests_never_get_a_server_error_or_an_answer_outside_the_schema(
    api_app: FastAPI, api_settings: Settings
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    headers = {"Authorization": f"Bearer {api_settings.api_key}"}
    failures: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's TestClient, used for ASGI calls, nags about httpx2
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def run(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Exception as exc:
                failures.append(f"{operation.label}: {str(exc).strip().splitlines()[0:12]}")
    assert not failures, "\n\n".join(failures)
