"""End-to-end fixtures: a real uvicorn server in-process on a free port, and a raw OCPP-J WebSocket client.

- ``live_server``: a server with default settings on the test's ``database_url`` (SQLite and PostgreSQL).
- ``start_live_server(**settings)``: start servers with other ``Settings`` (stopped after the test).
- ``shared_live_server``: one server per module and backend, for tests that isolate themselves by random ids.
- ``ocpp_client(server, cp_id, password, protocol)``: an async context manager giving an ``OcppClient``.

The helpers live in ``tests/live_servers.py``; the names below are re-exported for ``from conftest import ...``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from live_servers import (
    API_KEY,
    LiveServer,
    OcppClient,
    basic_auth,
    free_port,
    ocpp_connection,
    random_id,
    running_server,
    throwaway_postgres,
)

__all__ = ["API_KEY", "LiveServer", "OcppClient", "basic_auth", "free_port", "random_id"]


@pytest.fixture
def start_live_server(database_url: str) -> Iterator[Callable[..., LiveServer]]:
    """Start servers with extra ``Settings`` fields; each is stopped at the end of the test."""
    with ExitStack() as stack:
        yield lambda **settings: stack.enter_context(running_server(database_url, **settings))


@pytest.fixture
def live_server(start_live_server: Callable[..., LiveServer]) -> LiveServer:
    """A server with default settings."""
    return start_live_server()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server per test module and backend (starting one costs ~1.5 s of migrations)."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'voltbill.db'}"
        else:
            try:
                url = stack.enter_context(throwaway_postgres())
            except Exception as exc:
                if os.environ.get("CI") == "true":
                    pytest.fail(f"PostgreSQL is required in CI and is unreachable: {exc}")
                pytest.skip(f"PostgreSQL unreachable locally: {exc}")
        yield stack.enter_context(running_server(url))


@pytest.fixture
def ocpp_client() -> Callable[..., Any]:
    """``async with ocpp_client(server, cp_id, password, "ocpp1.6") as client: ...``"""
    return ocpp_connection
