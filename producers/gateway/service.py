"""What one gateway process holds: the codec, the registry directory and its follower,
the Kafka publisher and the rate limiters; and how a device is authenticated.

Authentication: ``Authorization: Bearer <device id>:<token>``, the id and the token
printed by `ravao device add`. The registry keeps only the token's SHA-256; the gateway
compares hashes in constant time.

Rate limits: a device's scans (its own bucket); every self check-in of a client address,
genuine or forged (the address's bucket), then a genuine one also in the bucket of that
person at that address, so a flood from one address spends neither another address's
nor the person's own phone's; failed device log-ins of a client address; every phone
enrolment request of a client address (the codes module also limits codes and wrong tries).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from pipeline.access.codes import OneTimeCodes
from pipeline.kafka_io import ensure_topics, partition_counts
from pipeline.kafka_local import bootstrap_servers
from pipeline.keys import load_codec
from pipeline.recent_declarations import RecentDeclarations
from pipeline.registry import token_hash
from pipeline.registry_cache import DeviceInfo
from pipeline.settings import Settings
from pipeline.sms import SmsError, SmsSender, sms_sender
from pipeline.stream.declaration_follower import DeclarationFollower
from pipeline.topics import topics_for
from schemas.declarations import Declaration, DeclarationStatus
from schemas.enrolment import ConfirmedBy, PhoneEnrolment, b64url, key_id, unb64url

from .directory import DeviceAuth, EnrolledKey, GatewayDirectory, GatewayFollower
from .envelopes import ScanPublisher
from .errors import ApiError
from .p256 import BadKey, parse_public_key
from .publisher import NotAcknowledged, Publisher
from .rate_limit import TokenBuckets
from .scans import Outgoing, TimeWindow

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 5.0  # an unknown device id waits this long for the registry at most
MAX_ISSUED = 100_000  # how each live enrolment code was given, remembered for its record
RETRY_AFTER_SECONDS = 5.0  # what a 503 asks for
MAX_RECENT_SCANS = 100_000  # (device, person) pairs a guard may declare for, remembered
GUARD_DECLARATION_SECONDS = 15 * 60  # a guard declares for a person scanned at most this long ago


def unauthorised(error: str, message: str) -> ApiError:
    return ApiError(401, error, message, headers={"WWW-Authenticate": 'Bearer realm="ravao"'})


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = topics_for(settings)
        self.codec = load_codec(settings)
        self.directory = GatewayDirectory()
        self.device_buckets = TokenBuckets(settings.gateway_device_rate, settings.gateway_device_burst)
        self.person_buckets = TokenBuckets(settings.gateway_self_rate, settings.gateway_self_burst)
        self.client_buckets = TokenBuckets(settings.gateway_client_rate, settings.gateway_client_burst)
        self.auth_failures = TokenBuckets(settings.gateway_auth_failure_rate, settings.gateway_auth_failure_burst)
        self.device_window = TimeWindow(past=timedelta(hours=settings.accepted_lateness_hours),
                                        future=timedelta(minutes=settings.future_tolerance_minutes))
        skew = timedelta(seconds=settings.gateway_self_clock_skew_seconds)
        self.self_window = TimeWindow(past=skew, future=skew)
        self.enrol_buckets = TokenBuckets(settings.gateway_enrol_rate, settings.gateway_enrol_burst)
        self.codes = OneTimeCodes(settings)
        self._issued: OrderedDict[str, tuple[ConfirmedBy, str | None]] = OrderedDict()
        self.sms: SmsSender = sms_sender(settings)  # the console in the embedded default
        self.guards = None  # guard sign-in (`guard_session.GuardSessions`), set by `app.create_app`
        self.bootstrap: str | None = None
        self.follower: GatewayFollower | None = None
        self.publisher: Publisher | None = None
        self.scan_publisher: ScanPublisher | None = None  # scans.raw, in envelopes (envelopes.py)
        self.sent: Callable[[int, int], None] = lambda messages, scans: None  # the metrics', set by the app
        self._follow_task: asyncio.Task | None = None
        # Statuses for scans as far back as a scan may be dated (`declarations`).
        self.declarations = RecentDeclarations(settings.declaration_current_days, self.device_window.past)
        self.declaration_follower: DeclarationFollower | None = None
        self._declarations_task: asyncio.Task | None = None
        self._recent: OrderedDict[tuple[str, str], float] = OrderedDict()  # (device, person) -> monotonic

    # --- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self.bootstrap = bootstrap_servers(self.settings)
        await asyncio.to_thread(ensure_topics, self.bootstrap, self.topics.all(), self.settings.topic_replication)
        raw = self.topics.scans_raw.name
        # The topic's own partition count (what the worker checks it against the settings):
        # an envelope goes to the partition of each scan's person.
        partitions = (await asyncio.to_thread(partition_counts, self.bootstrap, [raw])).get(raw,
                                                                                          self.topics.scans_raw.partitions)
        self.publisher = Publisher(self.bootstrap, raw, self.settings.gateway_ack_timeout_seconds)
        self.scan_publisher = ScanPublisher(self.publisher, partitions, self.settings.gateway_flush_ms / 1000,
                                            envelopes=self.settings.gateway_envelopes, sent=self.sent)
        self.follower = GatewayFollower(self.bootstrap, self.topics, self.directory)
        self._follow_task = asyncio.create_task(self._follow(lambda: self.follower.run()), name="registry-follower")
        self.declaration_follower = DeclarationFollower(self.bootstrap, self.topics.declarations.name,
                                                        self.declarations)
        self._declarations_task = asyncio.create_task(self._follow(lambda: self.declaration_follower.run()),
                                                      name="declarations-follower")

    async def _follow(self, run) -> None:
        """A follower, restarted after a failure (a broker restart, say)."""
        delay = 1.0
        while True:
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - logged; the registry is followed again
                log.exception("following the registry or the declarations failed; retrying in %.0fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def stop(self) -> None:
        for task in (self._follow_task, self._declarations_task):
            if task is None:
                continue
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                pass
        if self.scan_publisher is not None:
            self.scan_publisher.flush()  # a window still gathering goes now
        if self.publisher is not None:
            await asyncio.to_thread(self.publisher.close)

    @property
    def ready(self) -> bool:
        return (self.follower is not None and self.follower.ready.is_set() and self.publisher is not None
                and self.declaration_follower is not None and self.declaration_follower.ready.is_set())

    def require_ready(self) -> None:
        if not self.ready:
            raise ApiError(503, "not_ready", "the gateway is still loading the registry from Kafka; send again "
                           "in a moment", retry_after=2)

    # --- devices -----------------------------------------------------------------------------
    async def authenticate_scope(self, scope, credentials: str | None, client: str) -> tuple[DeviceInfo, DeviceAuth]:
        """A device's token (``<device id>:<token>``), or else a guard's sign-in session."""
        if self.guards is not None and (credentials is None or ":" not in credentials) and self.guards.token(scope):
            self.require_ready()
            try:
                return await self.guards.device(scope, self.publisher)
            except ApiError as error:
                if error.status == 401:
                    self._failed(client)
                raise
        return await self.authenticate(credentials, client)

    async def authenticate(self, credentials: str | None, client: str) -> tuple[DeviceInfo, DeviceAuth]:
        """The device named by ``<device id>:<token>``, or ApiError 401/403; 429 once ``client``
        failed too often. Each check is a hash compared in constant time, so a right token is
        let in even then: the limit bounds the work and the noise of guessing (a token has
        192 random bits), and never locks out a device that shares an address with a guesser."""
        self.require_ready()
        try:
            return await self._authenticate(credentials, client)
        except ApiError as error:
            if error.status == 401:
                self._failed(client)
            raise

    async def _authenticate(self, credentials: str | None, client: str) -> tuple[DeviceInfo, DeviceAuth]:
        if not credentials:
            raise unauthorised("missing_credentials", "send 'Authorization: Bearer <device id>:<token>', "
                               "the id and token printed by `ravao device add`")
        device_id, sep, token = credentials.partition(":")
        if not sep or not device_id or not token:
            raise unauthorised("missing_credentials", "the bearer token must be '<device id>:<token>'")
        device, auth = self.directory.device(device_id), self.directory.device_auth.get(device_id)
        if (device is None or auth is None) and not self.auth_failures.wait(client):
            # Registered a moment ago? Read the registry topics to their end first (not for
            # an address that keeps failing: each read costs seconds).
            await self.caught_up()
            device, auth = self.directory.device(device_id), self.directory.device_auth.get(device_id)
        if device is None or auth is None:
            raise unauthorised("unknown_device", "this device is not registered: register it with "
                               "`ravao device add` and use the id it prints")
        if not hmac.compare_digest(token_hash(token), auth.token_sha256):
            raise unauthorised("bad_token", "the token does not match this device: use the token printed "
                               "by `ravao device add` (it is shown once; add the device again if lost)")
        if not device.active:
            raise ApiError(403, "device_inactive", "this device was deactivated by the venue")
        return device, auth

    def _failed(self, client: str) -> None:
        wait = self.auth_failures.take(client)
        if wait:
            raise ApiError(429, "rate_limited", "too many failed log-ins from this address: check the device id "
                           "and token, and wait before trying again", retry_after=wait)

    def limit_device(self, device_id: str, scans: int) -> None:
        wait = self.device_buckets.take(device_id, scans)
        if wait:
            raise ApiError(429, "rate_limited", f"this device sends more than {self.settings.gateway_device_rate:g} "
                           "scans per second: wait and send again", retry_after=wait)

    def limit_client(self, client: str) -> None:
        """Every self check-in an address sends, before its body is read."""
        wait = self.client_buckets.take(client)
        if wait:
            raise ApiError(429, "rate_limited", "too many check-ins from this address: wait a moment",
                           retry_after=wait)

    def limit_person(self, person_id: str, client: str) -> None:
        """A genuine self check-in: the person's bucket at this address (a flood elsewhere
        does not spend the person's own)."""
        wait = self.person_buckets.take(f"{person_id} {client}")
        if wait:
            raise ApiError(429, "rate_limited", "too many check-ins in a short time: wait a moment",
                           retry_after=wait)

    # --- phone enrolment (enrol.py) -----------------------------------------------------------
    def limit_enrolment(self, client: str) -> None:
        """Every enrolment request an address sends, before its body is read."""
        wait = self.enrol_buckets.take(client)
        if wait:
            raise ApiError(429, "rate_limited", "too many enrolment requests from this address: wait a moment",
                           retry_after=wait)

    async def caught_up(self) -> None:
        """The registry read to its end (bounded): for an id registered a moment ago at another
        process. Called only behind a rate limit: each read costs a round trip to Kafka."""
        try:
            await asyncio.wait_for(self.follower.catch_up(if_older_than=time.time()), CATCH_UP_SECONDS)
        except TimeoutError:
            log.warning("the registry did not catch up within %.0fs", CATCH_UP_SECONDS)
        except Exception:  # noqa: BLE001 - the follower is restarting: answer with what is known
            log.exception("reading the registry to its end failed")

    async def phone_on_record(self, person_id: str) -> str | None:
        phone = self.directory.phone(person_id)
        if phone is None:
            await self.caught_up()
            phone = self.directory.phone(person_id)
        return phone

    async def enrolled_key(self, person_id: str, key_id: str | None) -> EnrolledKey | None:
        """The person's current key; read the registry to its end first when the check-in
        names another key (a phone enrolled a moment ago through another gateway)."""
        current = self.directory.enrolled_key(person_id)
        if key_id and (current is None or current.key_id != key_id):
            await self.caught_up()
            current = self.directory.enrolled_key(person_id)
        return current

    def issued(self, person_id: str, how: ConfirmedBy, guard_device_id: str | None) -> None:
        self._issued.pop(person_id, None)
        while len(self._issued) >= MAX_ISSUED:
            self._issued.popitem(last=False)
        self._issued[person_id] = (how, guard_device_id)

    async def send_sms(self, phone: str, text: str) -> None:
        try:
            await asyncio.to_thread(self.sms.send, phone, text)
        except SmsError as exc:
            log.warning("an enrolment code was not sent: %s", exc)  # SmsError never names the phone
            raise ApiError(503, "sms_unavailable", "the code could not be sent by SMS now: ask again in a moment, "
                           "or enrol at a venue with a guard", retry_after=RETRY_AFTER_SECONDS) from None

    async def enrol(self, person_id: str, public_key: str) -> PhoneEnrolment:
        """Publish the person's new phone (acknowledged by Kafka) and hold it at once."""
        try:
            raw = unb64url(public_key)
            parse_public_key(raw)
        except (ValueError, BadKey) as error:
            raise ApiError(422, "bad_public_key", f"{error}: export the public key raw") from None
        how, guard = self._issued.pop(person_id, (ConfirmedBy.sms, None))
        record = PhoneEnrolment(person_id=person_id, public_key=b64url(raw), key_id=key_id(raw),
                                confirmed_by=how, guard_device_id=guard)
        try:
            await self.publisher.publish([(person_id.encode(), record.to_bytes())],
                                         topic=self.topics.phone_enrolments.name)
        except NotAcknowledged as exc:
            raise ApiError(503, "kafka_unavailable", f"the enrolment was not stored ({exc}); ask for a new code "
                           "and enrol again", retry_after=RETRY_AFTER_SECONDS) from None
        self.directory.apply_enrolment(person_id.encode(), record.to_bytes())
        return record

    # --- publishing --------------------------------------------------------------------------
    async def audit(self, record) -> None:
        """An audit record on its topic, kept by Kafka before the read in full it is for."""
        try:
            await self.publisher.publish([(str(record.audit_id).encode(), record.to_bytes())],
                                         topic=self.topics.audit.name)
        except NotAcknowledged as exc:
            raise ApiError(503, "kafka_unavailable", f"the audit record was not stored ({exc}); try again",
                           retry_after=RETRY_AFTER_SECONDS) from None

    async def publish(self, outgoing: Sequence[Outgoing]) -> None:
        """Return once Kafka acknowledged every scan; else ApiError 503 (send them again)."""
        audits = [(b"audit", o.audit) for o in outgoing if o.audit is not None]
        scans = self.scan_publisher.publish([(o.key, o.value) for o in outgoing])
        try:
            if audits:
                await asyncio.gather(scans, self.publisher.publish(audits, topic=self.topics.audit.name))
            else:
                await scans  # most scans: no task to gather them in
        except NotAcknowledged as exc:
            log.warning("%d scan(s) not acknowledged: %s", len(outgoing), exc)
            raise ApiError(503, "kafka_unavailable", f"the scans were not stored ({exc}); send them again with "
                           "the same event ids", retry_after=RETRY_AFTER_SECONDS) from None

    # --- health declarations (api.py, declarations.py) -----------------------------------------
    def declaration_status(self, person_id: str, at: datetime) -> DeclarationStatus:
        return self.declarations.status(person_id, at)

    def scanned(self, device_id: str, person_id: str, ago: timedelta = timedelta(0)) -> None:
        """A device's accepted scan of a person, made ``ago`` before now: its guard may declare
        for that person a while after the scan (not after its upload: a backlog of old scans,
        or one dated back on purpose, opens nothing)."""
        if ago.total_seconds() > GUARD_DECLARATION_SECONDS:
            return
        key = (device_id, person_id)
        at = time.monotonic() - max(0.0, ago.total_seconds())
        if self._recent.get(key, at) > at:
            return  # a later scan of the same pair counts
        self._recent.pop(key, None)
        while len(self._recent) >= MAX_RECENT_SCANS:
            self._recent.popitem(last=False)
        self._recent[key] = at

    def scanned_lately(self, device_id: str, person_id: str) -> bool:
        at = self._recent.get((device_id, person_id))
        return at is not None and time.monotonic() - at <= GUARD_DECLARATION_SECONDS

    async def declare(self, declaration: Declaration) -> None:
        """Publish the declaration (acknowledged by Kafka) and hold its status at once."""
        try:
            await self.publisher.publish([(declaration.person_id.encode(), declaration.to_bytes())],
                                         topic=self.topics.declarations.name)
        except NotAcknowledged as exc:
            raise ApiError(503, "kafka_unavailable", f"the declaration was not stored ({exc}); send it again "
                           "(same declaration id)", retry_after=RETRY_AFTER_SECONDS) from None
        self.declarations.add(declaration)
