"""A guard signed in with their phone (sign-in code, `pipeline.access.http`) scans as a device.

The guard page signs in the way people do: a staff (or owner) phone of a venue asks for a
code, types it, and holds a session (an HttpOnly cookie). Its scans then go to the same
endpoints as a device's, with the session instead of a device token.

Which device the worker sees. The worker accepts a staff scan only from a device bound to
the venue (`registry.devices`, `device_not_authorised` otherwise), and it never sees
sessions. So the first time a phone signs in as a guard at a venue, the gateway publishes
a `Device` for that pair — a guard phone of the venue, its phone the staff phone, label
`SESSION_LABEL`, and the hash of a random token nobody is given (the device path can never
authenticate as it) — and every later session of that phone at that venue, on any gateway,
finds that device in the registry and scans under its id. So the worker's rule stays whole,
a session's scans are one device's in the warehouse, and the venue can still deactivate it
like any device (a session then gets 403 `device_inactive`). Two gateways signing the same
phone in at the same moment may publish two such devices: both are the venue's, harmless.

A session is asked again on every request (`Sessions.resolve` re-reads the account
directory): a disabled account, or a phone no longer the venue's staff or owner, loses its
guard session at once (401 `not_signed_in`, or 403 `not_staff` for that venue).
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from starlette.requests import HTTPConnection
from starlette.types import Scope

# Imported by `app.create_app` only, at call time: `pipeline.access.http` imports the
# gateway's `api` module, so importing it while `producers.gateway` loads would be a cycle.
from pipeline.access.caller import Caller
from pipeline.access.http import COOKIE, NOT_SIGNED_IN, SignIn
from pipeline.privacy import mask_phone
from pipeline.registry import token_hash
from pipeline.registry_cache import DeviceInfo
from schemas.ids import DEVICE, new_id
from schemas.registry import Device, DeviceKind, GateMode

from .directory import SESSION_LABEL, DeviceAuth, GatewayDirectory
from .errors import ApiError
from .publisher import NotAcknowledged, Publisher

log = logging.getLogger(__name__)

VENUE_HEADER = b"x-ravao-venue"


def session_token(scope: Scope) -> str | None:
    """The session cookie, or a bearer token that is not a device's ``<id>:<token>``."""
    connection = HTTPConnection(scope)
    token = connection.cookies.get(COOKIE)
    if token:
        return token
    header = connection.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials and ":" not in credentials:
        return credentials
    return None


def guard_venue(caller: Caller, asked: str | None) -> str:
    """The venue the caller guards: the one asked for (X-Ravao-Venue), or their only one."""
    venues = sorted(caller.venues())
    if not venues:
        raise ApiError(403, "not_staff", "this phone is not the owner's or a staff phone of any venue: the venue "
                       "owner adds it with `ravao venue add-staff VENUE PHONE`")
    if asked:
        if asked not in venues:
            raise ApiError(403, "not_staff", "this phone is not the owner's or a staff phone of that venue")
        return asked
    if len(venues) > 1:
        raise ApiError(422, "venue_required", "this phone guards several venues: name one in the X-Ravao-Venue "
                       "header")
    return venues[0]


class GuardSessions:
    def __init__(self, sign_in: SignIn, directory: GatewayDirectory, devices_topic: str) -> None:
        self.sign_in = sign_in
        self.directory = directory
        self.devices_topic = devices_topic
        self.ready = False
        self._task: asyncio.Task | None = None
        self._first_sign_in = asyncio.Lock()  # one device per phone and venue, within this gateway

    # --- life cycle: the account directory follows `registry.venues` and `accounts` ---------
    def start(self, bootstrap: str, topics) -> None:
        async def follow() -> None:
            await self.sign_in.start(bootstrap, topics)
            self.ready = True

        self._task = asyncio.create_task(follow(), name="sign-in")
        self._task.add_done_callback(lambda t: t.cancelled() or t.exception() is None
                                     or log.error("following the accounts failed: %s", t.exception()))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                pass
        await self.sign_in.stop()

    # --- requests ------------------------------------------------------------------------------
    def caller(self, scope: Scope) -> Caller:
        if not self.ready:
            raise ApiError(503, "not_ready", "the gateway is still loading the accounts: send again in a moment",
                           retry_after=2)
        caller = self.sign_in.sessions.resolve(session_token(scope))
        if caller is None:
            raise ApiError(401, "not_signed_in", "no guard session (ended, expired, or not a session): "
                           f"{NOT_SIGNED_IN}; a device sends 'Authorization: Bearer <device id>:<token>' instead",
                           headers={"WWW-Authenticate": 'Bearer realm="ravao"'})
        return caller

    async def device(self, scope: Scope, publisher: Publisher) -> tuple[DeviceInfo, DeviceAuth]:
        """The device a signed-in guard scans as, published first if the phone has none at
        that venue yet; ApiError 401 without a session, 403 for a phone not staff there."""
        caller = self.caller(scope)
        asked = dict(scope.get("headers") or []).get(VENUE_HEADER, b"").decode("latin-1").strip() or None
        venue_id = guard_venue(caller, asked)
        auth = DeviceAuth("", DeviceKind.guard_phone)
        device = self._known(venue_id, caller)
        if device is not None:
            return device, auth
        async with self._first_sign_in:
            device = self._known(venue_id, caller)
            if device is not None:
                return device, auth
            return await self._publish_device(venue_id, caller, publisher), auth

    def token(self, scope: Scope) -> str | None:
        return session_token(scope)

    def _known(self, venue_id: str, caller: Caller) -> DeviceInfo | None:
        device_id = self.directory.session_device(venue_id, caller.phone or "")
        device = self.directory.device(device_id) if device_id else None
        if device is not None and not device.active:
            raise ApiError(403, "device_inactive", "the venue deactivated this phone's guard device")
        return device

    async def _publish_device(self, venue_id: str, caller: Caller, publisher: Publisher) -> DeviceInfo:
        record = Device(device_id=new_id(DEVICE), venue_id=venue_id, kind=DeviceKind.guard_phone,
                        mode=GateMode.auto, phone=caller.phone, label=f"{SESSION_LABEL} {mask_phone(caller.phone)}",
                        token_sha256=token_hash(secrets.token_urlsafe(24)))
        try:
            await publisher.publish([(record.device_id.encode(), record.to_bytes())], topic=self.devices_topic)
        except NotAcknowledged as exc:
            raise ApiError(503, "kafka_unavailable", f"this phone's guard device was not stored ({exc}); send "
                           "again", retry_after=5) from None
        self.directory.apply_device(record.device_id.encode(), record.to_bytes())
        return self.directory.device(record.device_id)
