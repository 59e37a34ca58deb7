"""Fixtures of the kubelet-lite acceptance tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.integration.kubeletlite.helpers import HookServer, Request


@pytest.fixture
async def hook_server() -> AsyncIterator[HookServer]:
    """An HTTP server on 127.0.0.1 for httpGet hooks: GET /fail... answers 500, any other
    path 200; every request is recorded."""
    server = HookServer()

    async def handle(request: web.Request) -> web.Response:
        server.requests.append(
            Request(request.path, request.query_string, dict(request.headers.items()))
        )
        status = 500 if request.path.startswith("/fail") else 200
        return web.Response(status=status, text=f"status {status}\n")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()
