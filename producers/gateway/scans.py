"""From a request to what is published and what the screen shows: plain functions.

The gateway checks only what it can check alone and at once: that each code is a
genuine code of the right kind (`QrCodec.decode`). A code that fails is refused here with
its reason and never published. Everything else is published to `scans.raw` and the
worker decides (unknown person, venue not the device's, too late, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.privacy import mask_name
from pipeline.registry_cache import DeviceInfo
from schemas.qrcode import InvalidCode, QrCodec
from schemas.registry import DeviceKind, GateMode
from schemas.scans import Direction, RawScan, ScanSource

from .directory import DeviceAuth, GatewayDirectory
from .models import ScanAnswer, ScanIn, SelfCheckIn, Status

SOURCE_BY_KIND = {DeviceKind.guard_phone: ScanSource.staff, DeviceKind.reader_station: ScanSource.station}
DIRECTION_BY_MODE = {GateMode.entry: Direction.entry, GateMode.exit: Direction.exit}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A scan ready for `scans.raw`, and the answer to give once Kafka has it."""

    key: bytes
    value: bytes
    answer: ScanAnswer


def refused(event_id, error: InvalidCode) -> ScanAnswer:
    return ScanAnswer(event_id=event_id, status=Status.refused, show="refused", reason=error.reason.value,
                      message=error.message)


def effective_direction(asked: Direction, mode: GateMode) -> Direction:
    """What the worker will record: an explicit in/out stays; auto follows the device's mode."""
    if asked is Direction.auto:
        return DIRECTION_BY_MODE.get(mode, Direction.auto)
    return asked


def device_scan(scan: ScanIn, device: DeviceInfo, auth: DeviceAuth, *, codec: QrCodec,
                directory: GatewayDirectory, now: datetime) -> Outgoing | ScanAnswer:
    """A scan by an authenticated guard phone or station: what to publish, or a refusal."""
    try:
        person = codec.decode(scan.person_qr, expect="P")
        if scan.venue_qr:
            codec.decode(scan.venue_qr, expect="V")
    except InvalidCode as error:
        return refused(scan.event_id, error)
    raw = RawScan(event_id=scan.event_id, source=SOURCE_BY_KIND[auth.kind], person_qr=scan.person_qr,
                  venue_qr=scan.venue_qr or None, device_id=device.device_id, direction=scan.direction,
                  scanned_at=scan.scanned_at or now, sent_at=scan.sent_at)
    label = directory.venue_labels.get(device.venue_id)
    full_name = directory.full_name(person.entity_id)
    name = None
    if full_name is not None:
        name = full_name if label is not None and label.privileged else mask_name(full_name)
    answer = ScanAnswer(event_id=scan.event_id, status=Status.accepted, show="ok",
                        direction=effective_direction(scan.direction, device.mode), name=name)
    # Keyed by person, like every raw scan: the worker then pairs it without another hop.
    return Outgoing(person.entity_id.encode(), raw.to_bytes(), answer)


def self_checkin(checkin: SelfCheckIn, *, codec: QrCodec, now: datetime) -> Outgoing | ScanAnswer:
    """A person's own check-in from the poster page, keyed by the person id (no device).
    No name in the answer: the page is not authenticated."""
    try:
        person = codec.decode(checkin.person_qr, expect="P")
        codec.decode(checkin.venue_qr, expect="V")
    except InvalidCode as error:
        return refused(checkin.event_id, error)
    raw = RawScan(event_id=checkin.event_id, source=ScanSource.self_checkin, person_qr=checkin.person_qr,
                  venue_qr=checkin.venue_qr, direction=checkin.direction, scanned_at=checkin.scanned_at or now)
    answer = ScanAnswer(event_id=checkin.event_id, status=Status.accepted, show="ok", direction=checkin.direction)
    return Outgoing(person.entity_id.encode(), raw.to_bytes(), answer)
