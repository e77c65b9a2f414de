"""Validation of raw scans: the first stage of the worker.

`validate` takes the bytes of one scan (a `scans.raw` message, or one record of an
envelope: `schemas.envelopes`) and returns either a `ValidScan`
or a `DeadLetter` with a machine-readable reason. It never raises on input: anything
unexpected becomes an `internal_error` dead letter and a logged stack trace. A dead
letter keeps at most `MAX_DEAD_LETTER_RAW_BYTES` of the message, and its length.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

from pydantic import ValidationError

from schemas.declarations import DeclarationStatus
from schemas.dlq import MAX_DEAD_LETTER_MESSAGE, DeadLetter, RejectReason, raw_fields
from schemas.qrcode import InvalidCode, QrCodec, QrError, claimed_id
from schemas.registry import GateMode, VenueCategory
from schemas.scans import MAX_RAW_SCAN_BYTES, Direction, RawScan, ScanSource, ValidScan

from .settings import default

log = logging.getLogger(__name__)


class VenueLike(Protocol):
    venue_id: str
    area_id: str
    area_path: tuple[str, ...]
    category: VenueCategory
    active: bool
    default_stay_minutes: int
    max_stay_minutes: int


class DeviceLike(Protocol):
    device_id: str
    venue_id: str
    mode: GateMode
    active: bool


class RegistryView(Protocol):
    """What validation needs to know about the registry: the current record by id
    (a `Venue`/`Device` model or anything with the same attributes)."""

    def venue(self, venue_id: str) -> VenueLike | None: ...

    def device(self, device_id: str) -> DeviceLike | None: ...

    def person_active(self, person_id: str) -> bool | None:
        """True or False for a registered person, None for an unknown id."""


@dataclass(frozen=True)
class Limits:
    # The settings' defaults (the worker passes the configured values).
    future_tolerance: timedelta = timedelta(minutes=default("future_tolerance_minutes"))  # a fast clock
    lateness: timedelta = timedelta(hours=default("accepted_lateness_hours"))  # stations offline that long


@dataclass(frozen=True)
class Position:
    topic: str
    partition: int
    offset: int
    index: int = 0  # the scan's place in an envelope (`schemas.envelopes`)


LOG_APPEND_TIME = 1  # Kafka's timestamp type when the broker, not the producer, stamped a message


def arrival_time(timestamp: float | None, timestamp_type: int | None, now: datetime,
                 lateness: timedelta) -> datetime:
    """When a raw scan reached Kafka: the time its lateness and its future are judged
    against, not when the worker got to it. A scan the gateway accepted, or a station sent
    in time, is not refused because it waited in the topic (a worker outage, a backlog, a
    replay). A time the broker stamped (LogAppendTime: scans.raw as the topics are
    created) is the broker's word; one a producer stamped (a topic created otherwise) is
    believed only back to ``now - lateness``, so a producer cannot widen the window by
    stamping old times. Never later than ``now``."""
    if not timestamp or timestamp <= 0:
        return now
    arrived = min(now, datetime.fromtimestamp(timestamp, timezone.utc))
    if timestamp_type != LOG_APPEND_TIME:
        arrived = max(arrived, now - lateness)
    return arrived


class Rejected(Exception):
    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


CODE_REASONS = {QrError.bad_signature: RejectReason.bad_signature, QrError.unknown_key: RejectReason.expired_key}


def validate(raw: bytes | None, *, codec: QrCodec, registry: RegistryView, now: datetime,
             position: Position, limits: Limits = Limits()) -> ValidScan | DeadLetter:
    event_id = None
    try:
        scan = _parse(raw)
        event_id = str(scan.event_id)
        return _check(scan, codec, registry, now, limits)
    except Rejected as rejected:
        reason, message = rejected.reason, rejected.message
    except Exception:  # noqa: BLE001 - a bug must not stop the stream; it is logged and kept
        log.exception("validation failed at %s[%d]@%d", position.topic, position.partition, position.offset)
        reason, message = RejectReason.internal_error, "the validator failed on this message"
    return DeadLetter(
        reason=reason, message=message[:MAX_DEAD_LETTER_MESSAGE], **raw_fields(raw),
        source_topic=position.topic, source_partition=position.partition, source_offset=position.offset,
        source_index=position.index, event_id=event_id, rejected_at=now,
    )


def source_of(raw: bytes | None) -> str | None:
    """Who sent a refused scan: its device, or for a self check-in the venue its code
    names (not verified); None for what is not a scan."""
    try:
        scan = RawScan.model_validate_json(raw)  # type: ignore[arg-type]
    except (ValidationError, TypeError, ValueError):
        return None
    if scan.source is ScanSource.self_checkin:
        return claimed_id(scan.venue_qr or "")
    return scan.device_id


def _parse(raw: bytes | None) -> RawScan:
    if raw is None:
        raise Rejected(RejectReason.undecodable, "the message has no value")
    if len(raw) > MAX_RAW_SCAN_BYTES:
        raise Rejected(RejectReason.oversized, f"{len(raw)} bytes; a scan has at most {MAX_RAW_SCAN_BYTES}")
    try:
        # The common case in one step, in pydantic's own JSON parser.
        scan = RawScan.model_validate_json(raw)
    except ValidationError:
        scan = None
    if scan is not None and scan.schema_version == RawScan.SCHEMA_VERSION:
        return scan
    # Refused: work out why, for the dead letter.
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(RejectReason.undecodable, "not UTF-8 JSON") from None
    except RecursionError:  # a few KiB of "[" nest deeper than the parser goes
        raise Rejected(RejectReason.undecodable, "JSON nested too deeply to be a scan") from None
    if not isinstance(data, dict):
        raise Rejected(RejectReason.undecodable, "not a JSON object")
    version = data.get("schema_version", RawScan.SCHEMA_VERSION)
    if version != RawScan.SCHEMA_VERSION:
        raise Rejected(RejectReason.unknown_schema_version,
                       f"schema_version {version!r} is not supported (this worker reads {RawScan.SCHEMA_VERSION})")
    try:
        RawScan.model_validate(data)
    except ValidationError as exc:
        # Field names and messages only: the input values may hold personal data.
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'scan'}: {e['msg']}" for e in exc.errors()[:5])
        raise Rejected(RejectReason.undecodable, f"not a valid scan: {problems}") from None
    raise Rejected(RejectReason.undecodable, "not a valid scan")


def _decode(codec: QrCodec, text: str, kind: str, what: str) -> str:
    try:
        return codec.decode(text, expect=kind).entity_id
    except InvalidCode as exc:
        raise Rejected(CODE_REASONS.get(exc.reason, RejectReason.bad_code), f"{what} code: {exc.message} ({exc.reason})") from None


def _check(scan: RawScan, codec: QrCodec, registry: RegistryView, now: datetime, limits: Limits) -> ValidScan:
    if scan.scanned_at > now + limits.future_tolerance:
        raise Rejected(RejectReason.future_scan, f"scanned at {scan.scanned_at.isoformat()}, later than now "
                       f"plus {limits.future_tolerance}: check the device clock")
    if scan.scanned_at < now - limits.lateness:
        raise Rejected(RejectReason.too_late, f"scanned at {scan.scanned_at.isoformat()}, older than the "
                       f"accepted lateness of {limits.lateness}")
    person_id = _decode(codec, scan.person_qr, "P", "person")
    claimed_venue = _decode(codec, scan.venue_qr, "V", "venue") if scan.venue_qr else None
    direction = scan.direction
    device = None
    if scan.source is ScanSource.self_checkin:
        venue_id = claimed_venue
    else:
        device = registry.device(scan.device_id)
        if device is None or not device.active:
            raise Rejected(RejectReason.unknown_device, f"device {scan.device_id} is not registered or deactivated")
        if claimed_venue is not None and claimed_venue != device.venue_id:
            raise Rejected(RejectReason.device_not_authorised,
                           f"device {device.device_id} is bound to venue {device.venue_id}, not {claimed_venue}")
        venue_id = device.venue_id
        if direction is Direction.auto and device.mode is not GateMode.auto:
            direction = Direction.entry if device.mode is GateMode.entry else Direction.exit
    venue = registry.venue(venue_id)
    if venue is None:
        raise Rejected(RejectReason.unknown_venue, f"venue {venue_id} is not registered")
    if not venue.active:
        raise Rejected(RejectReason.inactive_venue, f"venue {venue_id} is deactivated")
    if not registry.person_active(person_id):
        raise Rejected(RejectReason.unknown_person, f"person {person_id} is not registered or deactivated")
    return ValidScan.model_construct(
        schema_version=ValidScan.SCHEMA_VERSION, event_id=scan.event_id, source=scan.source,
        person_id=person_id, venue_id=venue_id, device_id=device.device_id if device else None,
        direction=direction, scanned_at=scan.scanned_at.astimezone(timezone.utc), received_at=now, area_id=venue.area_id,
        area_path=venue.area_path, category=venue.category,
        default_stay_minutes=venue.default_stay_minutes, max_stay_minutes=venue.max_stay_minutes,
        # Given, not left to its default: model_construct deep-copies a default.
        declaration=DeclarationStatus.none,
    )
