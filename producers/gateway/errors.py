"""Every error the gateway answers is JSON (`models.ErrorBody`) with the right status.

A request a client got wrong gets a 4xx that says what to fix; a broker that does not
acknowledge in time gets 503 with Retry-After (send again, same event ids). A bug in the
gateway is logged with its stack trace and answers 500 `internal_error`: the tests and
schemathesis fail on any 500.
"""

from __future__ import annotations

import json
import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, retry_after: float | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.retry_after = retry_after
        self.headers = dict(headers or {})


def error_response(status: int, error: str, message: str, retry_after: float | None = None,
                   headers: dict[str, str] | None = None, details: list[dict] | None = None) -> JSONResponse:
    body: dict = {"error": error, "message": message}
    headers = dict(headers or {})
    if retry_after is not None:
        seconds = max(1, math.ceil(retry_after))
        body["retry_after"] = seconds
        headers["Retry-After"] = str(seconds)
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


STATUS_ERRORS = {404: "not_found", 405: "method_not_allowed"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.message, exc.retry_after, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the body is not valid JSON")
        # Where and what, never the input values (a code or a name is not for logs or echoes).
        details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                   for e in errors[:20]]
        summary = "; ".join(f"{'.'.join(d['loc'][1:]) or 'body'}: {d['msg']}" for d in details[:3])
        return error_response(422, "invalid_request", f"the request does not match the API: {summary}",
                              details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = STATUS_ERRORS.get(exc.status_code, "http_error")
        return error_response(exc.status_code, error, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def bug(request: Request, _exc: Exception) -> JSONResponse:
        log.exception("gateway failed on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "the gateway failed; the error is logged. Send again later")


class BodyLimit:
    """Reads a request body up to ``limit`` bytes, then hands it on; a larger one gets 413
    before the application sees it (whether or not it announced its length)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.limit
            except ValueError:
                await self._reply(send, 400, "invalid_request", "the Content-Length header is not a number")
                return
            if too_large:
                await self._too_large(send)
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await self._reply(send, 413, "body_too_large",
                          f"the body is larger than {self.limit} bytes: send fewer scans per batch")

    @staticmethod
    async def _reply(send: Send, status: int, error: str, message: str) -> None:
        body = json.dumps({"error": error, "message": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
