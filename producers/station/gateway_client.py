"""The station's side of the gateway's HTTP contract.

    POST {gateway}/api/v1/scans/batch
    Authorization: Bearer <device id>:<token>
    {"scans": [{"event_id", "person_qr", "direction", "scanned_at", "sent_at"}, ...]}

The items are `schemas.scans.RawScan` without what the gateway takes from the
authenticated device (``source``, ``device_id``) and without ``schema_version``.
Answers, and what the station does:

| answer | meaning | the station |
|---|---|---|
| 200 ``{"results": [{"event_id", "status", "reason", "declaration", "declaration_colour"}, ...]}`` | per scan: ``accepted`` (Kafka has it; with the person's health declaration status at the scan time and its colour) or ``refused`` (final: a code that is not genuine, another venue's code, ``too_late``, ``future_scan``) | forgets accepted scans (showing each one's declaration status), moves refused ones with their reason to the local ``refused`` table and goes on with the queue; a scan missing from the results is sent again |
| 408 (the body was too slow), 429, 503 (``Retry-After``), 500, 502, 504, no answer | try later | retries the same batch with backoff |
| 401, 403 | the device or its token is not accepted | keeps everything queued, tells the operator, retries slowly |
| 404, 405 | no such endpoint: a wrong gateway URL | the same |
| 413 | the batch is too large | halves the batch |
| 400, 422, other 4xx | this batch cannot be taken | splits it; a single scan answered so is moved to ``refused`` |
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPException

from pipeline.settings import default

log = logging.getLogger(__name__)

BATCH_PATH = "/api/v1/scans/batch"
CHECKIN_PATH = "/api/v1/checkins"  # self check-ins, no device (the simulator sends them)
ACKNOWLEDGED = {"accepted", "duplicate"}
RETRYABLE = {408, 429, 500, 502, 503, 504}
OPERATOR = {401: "the gateway does not accept this station's token",
            403: "the gateway refuses this device (deactivated, or not a reader station?)",
            404: "the gateway has no scan endpoint there: is the gateway URL right?",
            405: "the gateway has no scan endpoint there: is the gateway URL right?"}


class RetryLater(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OperatorNeeded(Exception):
    """Sending cannot succeed until someone changes a setting; scans stay queued."""


class BatchRefused(Exception):
    """This batch (not the gateway) is the problem: 400, 413, 422, ..."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class BatchAnswer:
    acknowledged: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # event id -> reason
    # event id -> (declaration status, colour) of accepted scans, as the gateway answered them
    declarations: dict[str, tuple[str, str]] = field(default_factory=dict)


class GatewayClient:
    def __init__(self, base_url: str, device_id: str, token: str,
                 timeout: float = default("station_http_timeout_seconds")) -> None:
        self.url = base_url.rstrip("/") + BATCH_PATH
        self.timeout = timeout
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         "Authorization": f"Bearer {device_id}:{token}"}

    def send(self, scans: list[dict]) -> BatchAnswer:
        body = json.dumps({"scans": scans}, separators=(",", ":")).encode()
        request = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            self._raise_for(exc)
        except (urllib.error.URLError, HTTPException, OSError, socket.timeout) as exc:
            raise RetryLater(f"gateway unreachable: {getattr(exc, 'reason', exc)}") from None
        except ValueError:
            raise RetryLater("the gateway's answer is not JSON") from None
        return _parse(answer)

    @staticmethod
    def _raise_for(exc: urllib.error.HTTPError) -> None:
        status = exc.code
        try:
            detail = json.loads(exc.read() or b"{}")
        except (ValueError, OSError):
            detail = {}
        message = detail.get("message") or detail.get("error") or exc.reason
        if status in RETRYABLE:
            raise RetryLater(f"gateway answered {status}: {message}", _retry_after(exc.headers.get("Retry-After")))
        if status in OPERATOR:
            raise OperatorNeeded(f"{OPERATOR[status]} (HTTP {status}: {message})")
        raise BatchRefused(status, f"gateway answered {status}: {message}")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: use our own backoff


def _parse(answer: object) -> BatchAnswer:
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        raise RetryLater("the gateway's answer has no results")
    out = BatchAnswer()
    for result in answer["results"]:
        if not isinstance(result, dict) or "event_id" not in result:
            continue
        event_id, status = str(result["event_id"]), result.get("status")
        if status in ACKNOWLEDGED:
            out.acknowledged.append(event_id)
            declaration, colour = result.get("declaration"), result.get("declaration_colour")
            if isinstance(declaration, str) and isinstance(colour, str):
                out.declarations[event_id] = (declaration, colour)
        elif status == "refused":
            out.refused[event_id] = str(result.get("reason") or "refused")
        else:
            log.warning("gateway answered status %r for one scan; it is sent again", status)
    return out
