"""How a request body is read: after the request was admitted, within a time limit, up to
a size limit; the application gets the whole body or never runs.

Admission (`api.admit`) runs on the headers alone: a device is authenticated and a self
check-in takes its client address's token before a byte of the body is read, so neither
an unknown client nor a flooding address can hold the gateway with bodies. A body that
does not arrive within ``timeout`` seconds gets 408 and the connection is closed (a
stalled upload holds a connection for that long at most; uvicorn's
``limit_concurrency`` caps how many are open at once). A larger body than ``limit``
gets 413, whether or not it announced its length.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, error_response

CLOSE = {"Connection": "close"}  # the rest of the body is not read: the connection cannot be reused


class BodyGuard:
    def __init__(self, app: ASGIApp, *, limit: int, timeout: float,
                 admit: Callable[[Scope], Awaitable[None]]) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout
        self.admit = admit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        try:
            await self.admit(scope)
        except ApiError as error:
            await self._reply(scope, send, error.status, error.error, error.message, error.retry_after, error.headers)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.limit
            except ValueError:
                await self._reply(scope, send, 400, "invalid_request", "the Content-Length header is not a number")
                return
            if too_large:
                await self._too_large(scope, send)
                return
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._read(receive)
        except TimeoutError:
            await self._reply(scope, send, 408, "body_timeout", f"the body did not arrive within {self.timeout:g}s: "
                              "send the request again (same event ids)")
            return
        except _TooLarge:
            await self._too_large(scope, send)
            return
        if body is None:
            return  # the client went away
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await self._reply(scope, send, 413, "body_too_large",
                          f"the body is larger than {self.limit} bytes: send fewer scans per batch")

    @staticmethod
    async def _reply(scope: Scope, send: Send, status: int, error: str, message: str,
                     retry_after: float | None = None, headers: dict[str, str] | None = None) -> None:
        response = error_response(status, error, message, retry_after, {**(headers or {}), **CLOSE})

        async def nothing() -> Message:  # the response never reads the body
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)


class _TooLarge(Exception):
    pass
