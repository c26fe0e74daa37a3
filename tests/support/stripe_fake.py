"""localstripe as the tests' Stripe, with Stripe's idempotent requests and without its state file.

Stripe answers a POST that repeats an ``Idempotency-Key`` with the first request's saved status and body, and
applies it once; the same key with other parameters is refused (Stripe API reference, "Idempotent requests").
voltbill relies on that when it retries a capture or charge whose answer was lost. localstripe ignores the header,
so without this layer a crash test would see such a retry applied twice: a difference from Stripe that would
accuse voltbill of what Stripe prevents, or hide what Stripe would refuse.

localstripe also loads and rewrites one shared file (``/tmp/localstripe.pickle``) on every write; here every run
starts empty and keeps its state in memory.

Run as a script: ``python tests/support/stripe_fake.py --port N`` (``localstripe_server.running_localstripe``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from collections.abc import Awaitable, Callable

from aiohttp import web
from localstripe import server as localstripe
from localstripe.resources import store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_saved: dict[tuple[str, str], tuple[str, int, bytes, str]] = {}  # (api key, idempotency key) -> first answer
_running: dict[tuple[str, str], asyncio.Lock] = {}


@web.middleware
async def idempotent_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Replay the saved answer of a POST whose ``Idempotency-Key`` was seen before (with the same parameters)."""
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), key)
    fingerprint = hashlib.sha256(request.path.encode() + b"\0" + await request.read()).hexdigest()
    async with _running.setdefault(scope, asyncio.Lock()):  # a concurrent repeat waits for the first answer
        if scope in _saved:
            first, status, body, content_type = _saved[scope]
            if first != fingerprint:
                return web.json_response(
                    {
                        "error": {
                            "type": "idempotency_error",
                            "message": f"Keys for idempotent requests can only be used with the same parameters "
                            f"they were first used with. Try using a key other than '{key}'.",
                        }
                    },
                    status=400,
                )
            replay = web.Response(status=status, body=body, content_type=content_type)
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        response = await handler(request)
        if isinstance(response, web.Response) and response.body is not None:
            _saved[scope] = (fingerprint, response.status, bytes(response.body), response.content_type)
        return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    store.dump_to_disk = lambda: None
    localstripe.app.middlewares.insert(0, idempotent_requests)
    web.run_app(localstripe.app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
