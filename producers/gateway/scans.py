"""From a request to what is published and what the screen shows: plain functions.

The gateway refuses at once, with a machine-readable reason, what it can already tell is
wrong, and never publishes it: a code that is not genuine or not of the right kind
(`QrCodec.decode`'s reasons), a venue code that is not the bound device's own venue
(`device_not_authorised`), and a scan time outside the accepted window (`too_late`,
`future_scan`: for devices and for a self check-in signed by the person's enrolled phone,
the worker's lateness and future tolerance; a signed check-in's sending time, a few minutes
either side of arrival), and a self check-in that its person's enrolled phone did not sign
(`phone`). Everything else is published to `scans.raw` and the worker decides (unknown
person, deactivated venue, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.access.masking import display_name
from pipeline.access.audit import audit_record
from pipeline.access.policy import guard_caller, guard_sees_in_full
from pipeline.registry_cache import DeviceInfo
from schemas.declarations import DeclarationStatus
from schemas.dlq import RejectReason
from schemas.qrcode import InvalidCode, QrCodec
from schemas.registry import DeviceKind, GateMode
from schemas.scans import Direction, RawScan, ScanSource

from .declarations import COLOURS
from .directory import DeviceAuth, EnrolledKey, GatewayDirectory
from .models import ScanAnswer, ScanIn, SelfCheckIn, Status
from .phone import phone_refusal

# The person's declaration status at a time (`Gateway.declaration_status`).
Declared = Callable[[str, datetime], DeclarationStatus]

SOURCE_BY_KIND = {DeviceKind.guard_phone: ScanSource.staff, DeviceKind.reader_station: ScanSource.station}
DIRECTION_BY_MODE = {GateMode.entry: Direction.entry, GateMode.exit: Direction.exit}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A scan ready for `scans.raw`, and the answer to give once Kafka has it."""

    key: bytes
    value: bytes
    answer: ScanAnswer
    # The answer shows a name in full (a privileged venue's guard screen): its audit record,
    # published with the scan; no audit record kept, no answer (503, send again).
    audit: bytes | None = None


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """How far before and after its arrival a scan may be dated."""

    past: timedelta
    future: timedelta


def refused(event_id, error: InvalidCode) -> ScanAnswer:
    return ScanAnswer(event_id=event_id, status=Status.refused, show="refused", reason=error.reason.value,
                      message=error.message)


def refusal(event_id, reason: RejectReason, message: str) -> ScanAnswer:
    return ScanAnswer(event_id=event_id, status=Status.refused, show="refused", reason=reason.value, message=message)


def outside(event_id, at: datetime, now: datetime, window: TimeWindow, fix: str) -> ScanAnswer | None:
    """A refusal if ``at`` is outside ``window`` around ``now``; None if it is inside."""
    if at < now - window.past:
        return refusal(event_id, RejectReason.too_late, f"scanned at {at.isoformat()}, more than "
                       f"{window.past} before it arrived: {fix}")
    if at > now + window.future:
        return refusal(event_id, RejectReason.future_scan, f"scanned at {at.isoformat()}, more than "
                       f"{window.future} after it arrived: {fix}")
    return None


def effective_direction(asked: Direction, mode: GateMode) -> Direction:
    """What the worker will record: an explicit in/out stays; auto follows the device's mode."""
    if asked is Direction.auto:
        return DIRECTION_BY_MODE.get(mode, Direction.auto)
    return asked


def accepted(event_id, direction: Direction, status: DeclarationStatus, name: str | None = None) -> ScanAnswer:
    """An accepted scan's answer: its declaration status as a word and a colour, never the answers."""
    return ScanAnswer(event_id=event_id, status=Status.accepted, show="ok", direction=direction, name=name,
                      declaration=status, declaration_colour=COLOURS[status])


def device_scan(scan: ScanIn, device: DeviceInfo, auth: DeviceAuth, *, codec: QrCodec,
                directory: GatewayDirectory, now: datetime, window: TimeWindow,
                declared: Declared) -> Outgoing | ScanAnswer:
    """A scan by an authenticated guard phone or station: what to publish, or a refusal."""
    try:
        person = codec.decode(scan.person_qr, expect="P")
        venue = codec.decode(scan.venue_qr, expect="V") if scan.venue_qr else None
    except InvalidCode as error:
        return refused(scan.event_id, error)
    if venue is not None and venue.entity_id != device.venue_id:
        return refusal(scan.event_id, RejectReason.device_not_authorised,
                       "this is another venue's code: this device records scans of its own venue only")
    scanned_at = scan.scanned_at or now
    late = outside(scan.event_id, scanned_at, now, window, "check the device clock; a scan older than the "
                   "accepted lateness is not counted")
    if late is not None:
        return late
    raw = RawScan(event_id=scan.event_id, source=SOURCE_BY_KIND[auth.kind], person_qr=scan.person_qr,
                  venue_qr=scan.venue_qr or None, device_id=device.device_id, direction=scan.direction,
                  scanned_at=scanned_at, sent_at=scan.sent_at)
    label = directory.venue_labels.get(device.venue_id)
    full_name = directory.full_name(person.entity_id)
    name, audit = None, None
    if full_name is not None:
        full = guard_sees_in_full(device.device_id, device.venue_id, label is not None and label.privileged)
        name = display_name(full_name, full)
        if full:
            audit = audit_record(guard_caller(device.device_id, device.venue_id), action="guard_screen",
                                 subject=device.venue_id, purpose=f"staff of privileged venue {device.venue_id}",
                                 persons=[person.entity_id], detail={"event_id": str(scan.event_id)}).to_bytes()
    answer = accepted(scan.event_id, effective_direction(scan.direction, device.mode),
                      declared(person.entity_id, scanned_at), name)
    # Keyed by person, like every raw scan: the worker then pairs it without another hop.
    return Outgoing(person.entity_id.encode(), raw.to_bytes(), answer, audit)


def self_checkin(checkin: SelfCheckIn, *, codec: QrCodec, now: datetime, window: TimeWindow,
                 queued: TimeWindow, enrolled: Callable[[str], EnrolledKey | None],
                 declared: Declared) -> Outgoing | ScanAnswer:
    """A person's own check-in from the poster page, keyed by the person id (no device),
    signed by the person's enrolled phone (`phone`). No name in the answer: the page is not
    authenticated. Its ``sent_at`` must be within ``window`` (the clock skew) of arrival;
    its scan time within ``queued`` (the worker's lateness and future tolerance: a check-in
    the phone kept while offline), and not before the phone was enrolled."""
    try:
        person = codec.decode(checkin.person_qr, expect="P")
        venue = codec.decode(checkin.venue_qr, expect="V")
    except InvalidCode as error:
        return refused(checkin.event_id, error)
    not_signed = phone_refusal(person.entity_id, venue.entity_id, checkin.event_id, checkin.direction.value,
                               checkin.scanned_at, checkin.sent_at, checkin.key_id, checkin.signature, enrolled)
    if not_signed is not None:
        return ScanAnswer(event_id=checkin.event_id, status=Status.refused, show="refused", reason=not_signed[0],
                          message=not_signed[1])
    late = outside(checkin.event_id, checkin.sent_at, now, window, "the phone's clock is wrong: set it "
                   "automatically (the check-in page corrects it by itself and sends again)")
    if late is not None:
        return late
    scanned_at = checkin.scanned_at or now
    late = outside(checkin.event_id, scanned_at, now, queued, "a check-in kept on the phone while offline "
                   "counts only within the accepted lateness")
    if late is not None:
        return late
    if scanned_at < enrolled(person.entity_id).enrolled_at - window.past:
        return refusal(checkin.event_id, RejectReason.too_late, f"scanned at {scanned_at.isoformat()}, before "
                       "this phone was enrolled")
    raw = RawScan(event_id=checkin.event_id, source=ScanSource.self_checkin, person_qr=checkin.person_qr,
                  venue_qr=checkin.venue_qr, direction=checkin.direction, scanned_at=scanned_at,
                  sent_at=checkin.sent_at)
    answer = accepted(checkin.event_id, checkin.direction, declared(person.entity_id, scanned_at))
    return Outgoing(person.entity_id.encode(), raw.to_bytes(), answer)
