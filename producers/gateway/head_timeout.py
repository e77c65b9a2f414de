"""uvicorn's HTTP protocol with a time limit on request heads.

uvicorn bounds idle keep-alive connections, but not a connection that never completes a
request head: a client that connects and sends nothing, or a request line and then
nothing, held its connection for good, and a thousand of them filled
`RAVAO_GATEWAY_MAX_CONNECTIONS` so that every other client got 503. Here each request
head (the first on a connection, and the next after each response) must be complete
within ``head_timeout`` seconds, or the connection is closed; a byte now and then does
not reset the clock. The body has its own limit (`body.BodyGuard`).

This subclasses uvicorn's httptools protocol (`uvicorn.run(http=...)` takes a protocol
class, or its import path); tests/test_gateway_slow_clients.py fails if the hooks it
relies on change.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pipeline.settings import default


class HeadTimeoutProtocol(HttpToolsProtocol):
    head_timeout: float = default("gateway_head_timeout_seconds")  # RAVAO_GATEWAY_HEAD_TIMEOUT_SECONDS
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()

    def on_headers_complete(self) -> None:
        self._stop_head_clock()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._start_head_clock()  # the next request on this connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def _start_head_clock(self) -> None:
        self._stop_head_clock()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _stop_head_clock(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        busy = self.cycle is not None and not self.cycle.response_complete  # a pipelined request is being served
        if not busy and not self.transport.is_closing():
            self.transport.close()


class SettingsHeadTimeoutProtocol(HeadTimeoutProtocol):
    """The protocol with RAVAO_GATEWAY_HEAD_TIMEOUT_SECONDS. `ravao gateway` names it
    (`uvicorn.run(http="module:Class")`), so that each uvicorn worker process finds it by
    name: a class made at run time cannot be handed to another process."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        from pipeline.settings import get_settings  # cached: read once per process

        self.head_timeout = get_settings().gateway_head_timeout_seconds
        super().connection_made(transport)
