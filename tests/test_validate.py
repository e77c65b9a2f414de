"""Validation: every example raw scan is accepted or refused with its documented reason."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.keys import parse_keys
from pipeline.registry_cache import DeviceInfo, RegistryCache, VenueInfo
from pipeline.validate import LOG_APPEND_TIME, Position, arrival_time, source_of, validate
from schemas import DeadLetter, RejectReason, ValidScan
from schemas.dlq import MAX_DEAD_LETTER_RAW_BYTES
from schemas.qrcode import QrCodec
from schemas.registry import GateMode, VenueCategory

EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "examples"
REGISTRY = json.loads((EXAMPLES / "registry.json").read_text())
NOW = datetime.fromisoformat(REGISTRY["now"])
WHERE = Position("scans.raw", 2, 41)


def example_registry() -> RegistryCache:
    cache = RegistryCache()
    for venue_id, active in [(v, True) for v in REGISTRY["venues"]["active"]] + [
        (v, False) for v in REGISTRY["venues"]["inactive"]
    ]:
        cache.venues[venue_id] = VenueInfo(venue_id, "25741", ("74", "718", "25741"), VenueCategory.market,
                                           active, 60, 240)
    for device_id, venue_id in REGISTRY["devices"].items():
        cache.devices[device_id] = DeviceInfo(device_id, venue_id, GateMode.auto, True)
    for person_id in REGISTRY["persons"]:
        cache.store[b"p" + person_id.encode()] = b"1"
    return cache


CODEC = QrCodec(parse_keys(REGISTRY["keys"]))


def run(raw: bytes, registry: RegistryCache | None = None) -> ValidScan | DeadLetter:
    return validate(raw, codec=CODEC, registry=registry or example_registry(), now=NOW, position=WHERE)


@pytest.mark.parametrize("path", sorted((EXAMPLES / "raw_scan" / "valid").glob("*")), ids=lambda p: p.name)
def test_valid_examples_are_accepted_and_enriched(path: Path) -> None:
    result = run(path.read_bytes())
    assert isinstance(result, ValidScan), result
    assert result.person_id == REGISTRY["persons"][0]
    assert result.area_path == ("74", "718", "25741") and result.category is VenueCategory.market
    assert result.scanned_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("path", sorted((EXAMPLES / "raw_scan" / "invalid").glob("*")), ids=lambda p: p.name)
def test_invalid_examples_go_to_the_dead_letters_with_their_reason(path: Path) -> None:
    raw = path.read_bytes()
    result = run(raw)
    assert isinstance(result, DeadLetter), result
    assert result.reason is RejectReason(path.name.split("__")[0]), result.message
    assert base64.b64decode(result.raw_base64) == raw[:MAX_DEAD_LETTER_RAW_BYTES]
    assert result.raw_length == len(raw) and result.raw_truncated == (len(raw) > MAX_DEAD_LETTER_RAW_BYTES)
    assert (result.source_topic, result.source_partition, result.source_offset) == ("scans.raw", 2, 41)


def test_a_gate_in_entry_mode_turns_auto_into_an_entry() -> None:
    registry = example_registry()
    device_id, venue_id = next(iter(REGISTRY["devices"].items()))
    registry.devices[device_id] = DeviceInfo(device_id, venue_id, GateMode.exit, True)
    raw = (EXAMPLES / "raw_scan" / "valid" / "guard_phone_auto.json").read_bytes()
    assert run(raw, registry).direction == "out"


def test_dead_letter_messages_carry_no_personal_data_and_input_values() -> None:
    raw = json.dumps({"event_id": "not-a-uuid", "source": "station", "person_qr": "Nguyễn Văn An 0981234791",
                      "device_id": "DEXBBBBBBBBBBBB", "scanned_at": "2026-11-20T08:00:00+07:00"}).encode()
    result = run(raw)
    assert result.reason is RejectReason.undecodable
    assert "Nguyễn" not in result.message and "0981234791" not in result.message


@pytest.mark.parametrize("raw", [None, b"", b"\xff\xfe", b"[]", b"null", b"1e999999", b'{"schema_version": "x"}'])
def test_garbage_never_raises(raw: bytes | None) -> None:
    assert isinstance(run(raw), DeadLetter)


@pytest.mark.parametrize("raw", [b"[" * 4000, b'{"a":' * 600 + b"1" + b"}" * 600, b'{"person_qr":' + b"[" * 3000])
def test_deeply_nested_json_is_undecodable_not_a_failure_of_the_validator(raw: bytes) -> None:
    result = run(raw)
    assert result.reason is RejectReason.undecodable, result.message


def test_an_oversized_message_becomes_a_bounded_dead_letter_with_its_length() -> None:
    """The broker takes about 1 MiB; a dead letter carrying all of it (as base64) could not
    be sent. It keeps a prefix, the length, and says it was cut."""
    raw = b'{"event_id": "' + b"A" * (1 << 20) + b'"}'
    result = run(raw)
    assert result.reason is RejectReason.oversized
    assert result.raw_length == len(raw) and result.raw_truncated
    assert base64.b64decode(result.raw_base64) == raw[:MAX_DEAD_LETTER_RAW_BYTES]
    assert len(result.to_bytes()) < 4 * MAX_DEAD_LETTER_RAW_BYTES
    assert DeadLetter.from_bytes(result.to_bytes()) == result


def test_a_dead_letter_keeps_every_byte_of_what_may_be_a_scan() -> None:
    raw = b"x" * MAX_DEAD_LETTER_RAW_BYTES
    result = run(raw)
    assert base64.b64decode(result.raw_base64) == raw
    assert result.raw_length == len(raw) and not result.raw_truncated


def test_a_long_unknown_field_name_is_refused_not_raised() -> None:
    """The refusal names the fields that failed; a field name of thousands of characters
    must not make the dead letter itself invalid."""
    scan = json.loads((EXAMPLES / "raw_scan" / "valid" / "guard_phone_auto.json").read_text())
    scan["N" * 3000] = 1
    result = run(json.dumps(scan).encode())
    assert result.reason is RejectReason.undecodable
    assert len(result.message) <= 1000


def test_a_refused_scan_names_its_source_without_trusting_it() -> None:
    station = (EXAMPLES / "raw_scan" / "invalid" / "bad_signature__tampered_id.json").read_bytes()
    assert source_of(station) == "DEXBBBBBBBBBBBB"
    self_checkin = next(json.loads(p.read_text()) for p in sorted((EXAMPLES / "raw_scan" / "valid").glob("*"))
                        if json.loads(p.read_text())["source"] == "self")
    assert source_of(json.dumps(self_checkin).encode()) == CODEC.decode(self_checkin["venue_qr"]).entity_id
    assert source_of(b"garbage") is None and source_of(None) is None


WORKER_NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
LATENESS = timedelta(hours=48)


def test_a_scan_is_judged_by_when_the_broker_stamped_its_arrival() -> None:
    stamped = (WORKER_NOW - timedelta(hours=70)).timestamp()  # the worker is 70 h behind (a replay)
    assert arrival_time(stamped, LOG_APPEND_TIME, WORKER_NOW, LATENESS) == WORKER_NOW - timedelta(hours=70)


def test_a_time_a_producer_stamped_is_believed_only_back_to_the_lateness() -> None:
    assert arrival_time((WORKER_NOW - timedelta(hours=1)).timestamp(), 0, WORKER_NOW, LATENESS) == WORKER_NOW - timedelta(hours=1)
    assert arrival_time((WORKER_NOW - timedelta(days=400)).timestamp(), 0, WORKER_NOW, LATENESS) == WORKER_NOW - LATENESS


@pytest.mark.parametrize("stamp", [None, 0, -1, (WORKER_NOW + timedelta(hours=3)).timestamp()])
def test_an_arrival_is_never_later_than_now_nor_made_up(stamp) -> None:
    assert arrival_time(stamp, LOG_APPEND_TIME, WORKER_NOW, LATENESS) == WORKER_NOW
