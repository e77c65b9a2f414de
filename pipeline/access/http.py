"""Sign-in over HTTP: a router any of our FastAPI apps includes, and `current_caller`.

    POST   /api/v1/session/code  {phone}         202 whatever the phone (no enumeration); 429 throttled
    POST   /api/v1/session       {phone, code}   a session cookie, and {actor, expires_at, grants}
    GET    /api/v1/session                       who am I (401 without a session)
    DELETE /api/v1/session                       sign-out (204)

    sign_in = SignIn(settings, directory)
    install_sign_in(app, sign_in)                # the router, the error handlers, app.state
    @app.get("/thing")
    def thing(caller: Caller = Depends(current_caller)): ...

The session travels in an HttpOnly, SameSite=Strict cookie (Secure unless the site is
plain http on loopback: RAVAO_SESSION_COOKIE_SECURE), or as ``Authorization: Bearer
<token>`` for scripts. The client address that code attempts are counted against is the
request's peer, as the gateway sees it (`producers.gateway.api.client_address`: uvicorn's
proxy headers from RAVAO_GATEWAY_TRUSTED_PROXIES only).

A code is sent only to a phone with an account, after the answer went out (so that the
answer's timing does not tell either); the answer is the same 202 for every phone.
Sessions and codes live in this process (see `sessions`): one web process, or sticky
routing.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import datetime

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Request, Response
from pydantic import BaseModel, Field

from producers.gateway.errors import ApiError, install_error_handlers
from producers.gateway.models import ErrorBody
from schemas.registry import normalise_phone

from ..settings import Settings
from ..sms import SmsError, SmsSender, sms_sender
from ..topics import Topics
from .caller import Caller
from .codes import SIGN_IN, OneTimeCodes, Outcome
from .directory import AccountDirectory, AccountFollower
from .sessions import Sessions

log = logging.getLogger(__name__)
COOKIE = "ravao_session"


class SignIn:
    """The parts of sign-in one web process holds: its codes, its sessions, the
    directory they ask, and the SMS sender."""

    def __init__(self, settings: Settings, directory: AccountDirectory, *, sms: SmsSender | None = None,
                 codes: OneTimeCodes | None = None, sessions: Sessions | None = None) -> None:
        self.settings = settings
        self.directory = directory
        self.sms = sms if sms is not None else sms_sender(settings)
        self.codes = codes if codes is not None else OneTimeCodes(settings)
        self.sessions = sessions if sessions is not None else Sessions(directory, settings)
        self.follower: AccountFollower | None = None
        self._follower_task: asyncio.Task | None = None

    async def start(self, bootstrap: str, topics: Topics) -> None:
        """Follow `registry.venues` and `accounts`; return once both were read to their end."""
        follower = self.follower = AccountFollower(bootstrap, topics, self.directory)
        self._follower_task = asyncio.create_task(follower.run(), name="account-follower")
        ready = asyncio.create_task(follower.ready.wait())
        await asyncio.wait({ready, self._follower_task}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            self._follower_task.result()  # raises why the follower stopped

    async def stop(self) -> None:
        if self._follower_task is not None:
            self._follower_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._follower_task

    def send_code(self, phone: str, code: str) -> None:
        minutes = max(1, self.settings.code_ttl_seconds // 60)
        try:
            self.sms.send(phone, f"ravao: {code} is your sign-in code, valid {minutes} min. Never give it to anyone.")
        except SmsError as exc:
            log.error("a sign-in code was not sent: %s", exc)  # the error names no phone


def sign_in(request: Request) -> SignIn:
    return request.app.state.sign_in


def install_sign_in(app: FastAPI, service: SignIn, *, error_handlers: bool = True) -> None:
    app.state.sign_in = service
    if error_handlers:
        install_error_handlers(app)
    app.include_router(router)


# --- the API -------------------------------------------------------------------------------

# The form of a Vietnamese mobile number, as `normalise_phone` takes it (spaces, dots,
# dashes and brackets allowed), so that the schema says which text the API takes.
PHONE_PATTERN = r"^[ .()-]*(?:\+[ .()-]*8[ .()-]*4|0)[ .()-]*[35789](?:[ .()-]*[0-9]){8}[ .()-]*$"


class CodeRequest(BaseModel):
    phone: str = Field(max_length=32, pattern=PHONE_PATTERN, description="a mobile number, 0XXXXXXXXX or +84XXXXXXXXX")


class CodeAsked(BaseModel):
    message: str
    expires_in_seconds: int


class SessionRequest(BaseModel):
    phone: str = Field(max_length=32, pattern=PHONE_PATTERN)
    code: str = Field(max_length=16, description="the six digits sent to the phone")


class GrantOut(BaseModel):
    role: str
    venue_id: str | None = None
    area_id: str | None = None


class SessionOut(BaseModel):
    actor: str = Field(description="the account as logs and audit rows name it (phone masked)")
    expires_at: datetime
    grants: list[GrantOut]


router = APIRouter(prefix="/api/v1", tags=["sign-in"])
ERRORS = {s: {"model": ErrorBody, "description": d} for s, d in {
    400: "the body is not JSON", 401: "no session, or a wrong, expired or used code", 422: "not a phone number",
    429: "too many tries: wait Retry-After seconds"}.items()}
NOT_SIGNED_IN = "sign in: POST /api/v1/session/code with your phone, then POST /api/v1/session with the code"


# The gateway's own helpers, imported when called: the gateway's modules may import this
# one (to sign in its guards), and its api module imports its service module.
def client_address(request: Request) -> str:
    from producers.gateway.api import client_address as gateway_client_address

    return gateway_client_address(request.scope)


def session_token(request: Request) -> str | None:
    from producers.gateway.api import bearer_credentials

    return request.cookies.get(COOKIE) or bearer_credentials(request.scope)


def current_caller(request: Request, service: SignIn = Depends(sign_in)) -> Caller:
    """The signed-in caller, or 401: no session, expired, idle too long, or disabled."""
    caller = service.sessions.resolve(session_token(request))
    if caller is None:
        raise ApiError(401, "not_signed_in", NOT_SIGNED_IN, headers={"WWW-Authenticate": "Bearer"})
    return caller


def _phone(raw: str) -> str:
    try:
        return normalise_phone(raw)
    except ValueError:  # its message quotes the input: not echoed
        raise ApiError(422, "invalid_phone", "not a mobile number: give 10 digits starting with 03, 05, 07, 08 "
                                             "or 09, or +84 and 9 digits") from None


def _session_out(caller: Caller, expires_at: datetime) -> SessionOut:
    return SessionOut(actor=caller.actor, expires_at=expires_at,
                      grants=[GrantOut(role=g.role.value, venue_id=g.venue_id, area_id=g.area_id)
                              for g in caller.grants])


@router.post("/session/code", status_code=202, response_model=CodeAsked, responses=ERRORS,
             summary="Ask for a sign-in code")
def ask_for_code(body: CodeRequest, request: Request, background: BackgroundTasks,
                 service: SignIn = Depends(sign_in)) -> CodeAsked:
    """The same answer for every phone: if it has an account, a code is on its way."""
    phone, client = _phone(body.phone), client_address(request)
    code = service.codes.issue(SIGN_IN, phone, client)
    if code is None:
        raise ApiError(429, "too_many_codes", "too many codes asked for: wait and ask again",
                       retry_after=service.codes.wait_to_issue(phone, client))
    if service.directory.caller_for(phone) is not None:
        background.add_task(service.send_code, phone, code)
    return CodeAsked(message="if this phone has an account, a code was sent to it",
                     expires_in_seconds=service.settings.code_ttl_seconds)


REFUSED = {
    Outcome.wrong: ("wrong_code", "not this code: check it, or ask for a new one"),
    Outcome.expired: ("code_expired", "no valid code for this phone (too old, replaced, or ended by wrong tries): "
                                      "ask for a new one"),
    Outcome.used: ("code_used", "this code was used already: ask for a new one"),
}


@router.post("/session", response_model=SessionOut, responses=ERRORS, summary="Sign in with the code")
def start_session(body: SessionRequest, request: Request, response: Response,
                  service: SignIn = Depends(sign_in)) -> SessionOut:
    phone = _phone(body.phone)
    result = service.codes.check(SIGN_IN, phone, body.code, client_address(request))
    if result.outcome is Outcome.throttled:
        raise ApiError(429, "too_many_tries", "too many wrong codes: wait and try again",
                       retry_after=result.retry_after)
    if not result.ok:
        raise ApiError(401, *REFUSED[result.outcome])
    caller = service.directory.caller_for(phone)
    if caller is None:  # disabled since the code was sent
        raise ApiError(401, *REFUSED[Outcome.wrong])
    token, expires_at = service.sessions.start(phone)
    response.set_cookie(COOKIE, token, max_age=service.settings.session_ttl_seconds, path="/",
                        httponly=True, samesite="strict", secure=service.settings.cookie_secure)
    return _session_out(caller, expires_at)


@router.get("/session", response_model=SessionOut, responses=ERRORS, summary="Who am I")
def who_am_i(request: Request, caller: Caller = Depends(current_caller),
             service: SignIn = Depends(sign_in)) -> SessionOut:
    expires_at = service.sessions.expires_at(session_token(request))
    if expires_at is None:  # signed out by another request meanwhile
        raise ApiError(401, "not_signed_in", NOT_SIGNED_IN, headers={"WWW-Authenticate": "Bearer"})
    return _session_out(caller, expires_at)


@router.delete("/session", status_code=204, summary="Sign out")
def sign_out(request: Request, service: SignIn = Depends(sign_in)) -> Response:
    service.sessions.end(session_token(request))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=service.settings.cookie_secure)
    return response
