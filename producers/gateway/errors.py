"""Every error the gateway answers is JSON (`models.ErrorBody`) with the right status.

A request a client got wrong gets a 4xx that says what to fix, never longer than a few
kilobytes whatever it sent; a broker that does not
acknowledge in time gets 503 with Retry-After (send again, same event ids). A bug in the
gateway is logged with its stack trace and answers 500 `internal_error`: the tests and
schemathesis fail on any 500.
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
MAX_DETAILS, MAX_LOC_PARTS, MAX_PART = 20, 8, 64


def clip(value: object, limit: int = MAX_PART) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.message, exc.retry_after, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the body is not valid JSON")
        # Where and what, never the input values (a code or a name is not for logs or echoes),
        # and bounded: a field name is the client's text too (a 900 KB key is echoed as 64 characters).
        details = [{"loc": [clip(p) for p in tuple(e.get("loc", ()))[:MAX_LOC_PARTS]], "msg": clip(e.get("msg", ""), 200),
                    "type": clip(e.get("type", ""))} for e in errors[:MAX_DETAILS]]
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
