"""The JSON API under /api/v1. Every answer about a scan comes after Kafka acknowledged
it (or it was refused here, and not published)."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from schemas.qrcode import InvalidCode

from .errors import ApiError
from .models import (
    MAX_BATCH,
    BatchAnswer,
    BatchIn,
    CodeAnswer,
    CodeCheckIn,
    DeviceAnswer,
    ErrorBody,
    Health,
    ScanAnswer,
    ScanIn,
    SelfCheckIn,
    Status,
)
from .scans import Outgoing, device_scan, self_checkin
from .service import Gateway

router = APIRouter(prefix="/api/v1")
bearer = HTTPBearer(auto_error=False, scheme_name="device",
                    description="`Bearer <device id>:<token>`: the id and token printed by `ravao device add`")


def errors(*statuses: int) -> dict:
    meaning = {400: "malformed JSON", 401: "no credentials, unknown device, wrong token or no guard session; for "
                    "an enrolment, a wrong, used or expired code (wrong_code, code_used, code_expired)",
               404: "not a valid personal code (the error is the code's reason: bad_check, truncated, ...)",
               403: "the device is deactivated", 409: "no phone number on record: enrol with a guard",
               408: "the body did not arrive in time: send it again",
               413: "the body is too large",
               422: "the JSON does not match the API", 429: "too many scans: wait Retry-After seconds",
               503: "Kafka did not acknowledge in time, or the gateway is starting: send again (same event ids) "
                    "after Retry-After seconds"}
    return {s: {"model": ErrorBody, "description": meaning[s]} for s in statuses}


SCAN_ERRORS = errors(400, 401, 403, 408, 413, 422, 429, 503)
# Authenticated before their body is read (a guard's enrolment code for a person, too).
DEVICE_POSTS = {"/api/v1/scans", "/api/v1/scans/batch", "/api/v1/enrolment/attended"}
CHECKIN_POST = "/api/v1/checkins"
DECLARATION_POST = "/api/v1/declarations"  # a person's signed one, or a guard's (authenticated on the body's terms)
ENROL_POSTS = {"/api/v1/enrolment", "/api/v1/enrolment/code"}


async def gateway(request: Request) -> Gateway:
    # async: FastAPI runs a plain `def` dependency on a worker thread, a thread hop and a
    # fight for the GIL on every request for one attribute read.
    return request.app.state.gateway


def counted(request: Request, kind: str, *answers: ScanAnswer) -> None:
    request.app.state.metrics.answered(kind, answers)


def now() -> datetime:
    return datetime.now(timezone.utc)


def client_address(scope: Scope) -> str:
    """The client's address (the TLS proxy's X-Forwarded-For when it is trusted: uvicorn's
    proxy headers, RAVAO_GATEWAY_TRUSTED_PROXIES), as the per-address limits count it: an
    IPv6 address by its /64, the network one subscriber holds (counted address by address,
    2^64 of them would never be limited); an IPv4-mapped one as the IPv4 address."""
    client = scope.get("client")
    host = client[0] if client else "unknown"
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host.strip("[]").split("%")[0])
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def bearer_credentials(scope: Scope) -> str | None:
    header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


async def admit(gw: Gateway, scope: Scope) -> None:
    """What is decided on the headers alone, before the body is read (`body.BodyGuard`):
    a device's scans need a device; a self check-in takes its address's token."""
    path = scope["path"]
    if path in DEVICE_POSTS:
        scope.setdefault("state", {})["device"] = await gw.authenticate_scope(scope, bearer_credentials(scope),
                                                                              client_address(scope))
    elif path in (CHECKIN_POST, DECLARATION_POST):
        gw.require_ready()
        gw.limit_client(client_address(scope))
    elif path in ENROL_POSTS:
        gw.require_ready()
        gw.limit_enrolment(client_address(scope))


async def device(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                 gw: Gateway = Depends(gateway)):
    admitted = getattr(request.state, "device", None)
    if admitted is not None:
        return admitted
    return await gw.authenticate_scope(request.scope, credentials.credentials if credentials else None,
                                       client_address(request.scope))


# The scan posts, the busiest routes, take their device and gateway from the request, not
# from dependencies: FastAPI's solving of them was a quarter of a single scan's time in
# the app. `admit` authenticated the device before the body was read (DEVICE_POSTS); the
# document still says that these routes need the device's bearer token.
SCAN_POST = {"responses": SCAN_ERRORS, "openapi_extra": {"security": [{"device": []}]}}


def admitted(request: Request):
    """(device, auth) that `admit` found for this request, and the gateway."""
    return request.state.device, request.app.state.gateway


@router.post("/scans", response_model=ScanAnswer, summary="Submit one scan", **SCAN_POST)
async def submit_scan(scan: ScanIn, request: Request) -> ScanAnswer:
    """One scan by a guard phone or a reader station. Answers after Kafka acknowledged it,
    with what the screen should show. What the gateway can already tell is wrong is refused
    at once (status `refused`, with the reason) and not published: a code that is not
    genuine, another venue's code, a time older than the accepted lateness or too far ahead.
    A refusal is final: do not send that scan again. Sending the same event id again
    publishes it again; the pipeline counts it once. An accepted scan's answer carries the
    person's health declaration status at the scan time, a word and a colour (none grey,
    ok green, exposed amber, symptoms red), never the answers."""
    (info, auth), gw = admitted(request)
    gw.limit_device(info.device_id, 1)
    at = now()
    result = device_scan(scan, info, auth, codec=gw.codec, directory=gw.directory, now=at,
                         window=gw.device_window, declared=gw.declaration_status)
    if isinstance(result, Outgoing):
        await gw.publish([result])
        gw.scanned(info.device_id, result.key.decode(), at - (scan.scanned_at or at))
        result = result.answer
    counted(request, "device", result)
    return result


@router.post("/scans/batch", response_model=BatchAnswer, summary=f"Submit up to {MAX_BATCH} scans", **SCAN_POST)
async def submit_batch(batch: BatchIn, request: Request) -> BatchAnswer:
    """Up to 500 scans of one device, e.g. a reader station catching up after the network
    came back. Answers one result per scan, in order, after Kafka acknowledged every
    accepted one. On 503 nothing is acknowledged: send the whole batch again."""
    (info, auth), gw = admitted(request)
    gw.limit_device(info.device_id, len(batch.scans))
    at = now()
    results = [device_scan(s, info, auth, codec=gw.codec, directory=gw.directory, now=at, window=gw.device_window,
                           declared=gw.declaration_status) for s in batch.scans]
    outgoing = [r for r in results if isinstance(r, Outgoing)]
    await gw.publish(outgoing)
    for s, r in zip(batch.scans, results):
        if isinstance(r, Outgoing):
            gw.scanned(info.device_id, r.key.decode(), at - (s.scanned_at or at))
    answers = [r.answer if isinstance(r, Outgoing) else r for r in results]
    counted(request, "device", *answers)
    return BatchAnswer(accepted=len(outgoing), refused=len(answers) - len(outgoing), results=answers)


@router.post("/checkins", response_model=ScanAnswer, responses=errors(400, 408, 413, 422, 429, 503),
             summary="Self check-in from the venue poster's page, signed by the enrolled phone")
async def submit_checkin(checkin: SelfCheckIn, request: Request, gw: Gateway = Depends(gateway)) -> ScanAnswer:
    """A person checks in or out at a venue with their own phone: the page at /s/<venue code>
    sends the venue code and the person's own code, signed by the phone enrolled for that
    code (/api/v1/enrolment). Not signed by it: refused (`enrolment_required`,
    `phone_not_enrolled`, `bad_phone_signature`) — a printed card alone is for a guard or a
    station. No device credentials; limited per client address and per person at that
    address. `sent_at` further from the arrival than RAVAO_GATEWAY_SELF_CLOCK_SKEW_SECONDS is
    refused (`too_late`, `future_scan`: the phone's clock); a scan time, e.g. of a check-in the
    phone kept while offline, is taken back to RAVAO_ACCEPTED_LATENESS_HOURS. The answer
    carries no name. Accepted, it carries the person's health declaration status at the scan
    time (`declaration`, `declaration_colour`), as every accepted scan's answer does."""
    gw.require_ready()
    try:
        person_id = gw.codec.decode(checkin.person_qr, expect="P").entity_id
    except InvalidCode:
        person_id = None  # self_checkin refuses it, with the reason
    if person_id is not None:
        await gw.enrolled_key(person_id, checkin.key_id)
    result = self_checkin(checkin, codec=gw.codec, now=now(), window=gw.self_window, queued=gw.device_window,
                          enrolled=gw.directory.enrolled_key, declared=gw.declaration_status)
    if isinstance(result, Outgoing):
        gw.limit_person(result.key.decode(), client_address(request.scope))
        await gw.publish([result])
        result = result.answer
    counted(request, "self_checkin", result)
    return result


@router.get("/device", response_model=DeviceAnswer, responses=errors(401, 403, 429, 503),
            summary="The authenticated device")
async def whoami(who=Depends(device), gw: Gateway = Depends(gateway)) -> DeviceAnswer:
    """What the guard page shows after log-in: the device, its mode and its venue."""
    info, auth = who
    label = gw.directory.venue_labels.get(info.venue_id)
    return DeviceAnswer(device_id=info.device_id, kind=auth.kind.value, mode=info.mode.value, venue_id=info.venue_id,
                        venue_name=label.name if label else None, privileged=bool(label and label.privileged))


@router.post("/codes/check", response_model=CodeAnswer, responses=errors(400, 413, 422),
             summary="Is this a genuine code?")
async def check_code(body: CodeCheckIn, gw: Gateway = Depends(gateway)) -> CodeAnswer:
    """Checks a code's format, check symbol and signature, as `ravao qr check` does; the
    self check-in page uses it when a person saves their code."""
    try:
        decoded = gw.codec.decode(body.code, expect=body.expect)
    except InvalidCode as error:
        return CodeAnswer(valid=False, reason=error.reason.value, message=error.message)
    return CodeAnswer(valid=True, kind=decoded.kind)


health_router = APIRouter()


@health_router.get("/healthz", response_model=Health, responses={503: {"model": Health}}, summary="Readiness")
async def health(gw: Gateway = Depends(gateway)):
    """200 once the registry and the recent declarations are loaded and the producer is up; 503 before."""
    body = Health(ready=gw.ready, registry_loaded=bool(gw.follower and gw.follower.ready.is_set()),
                  kafka="starting" if gw.publisher is None else "failed" if gw.publisher.fatal else "ok",
                  kafka_last_error=gw.publisher.last_error if gw.publisher else None,
                  venues=len(gw.directory.venues), devices=len(gw.directory.devices))
    return JSONResponse(body.model_dump(), status_code=200 if gw.ready else 503)


__all__ = ["router", "health_router", "Status", "ApiError"]
