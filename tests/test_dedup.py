"""Remembering event ids (SeenEvents) and spotting double scans (is_double_scan)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

from pipeline.dedup import SeenEvents, is_double_scan
from schemas.ids import new_id
from schemas.registry import VenueCategory
from schemas.scans import Direction, ScanSource, ValidScan

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)
PERSON, MARKET, SHOP = new_id("P"), new_id("V"), new_id("V")
MINUTE = timedelta(minutes=1)


def scan(venue_id: str, direction: str, seconds: float) -> ValidScan:
    return ValidScan(
        event_id=uuid4(), source=ScanSource.staff, person_id=PERSON, venue_id=venue_id,
        direction=Direction(direction), scanned_at=T0 + timedelta(seconds=seconds),
        area_id="74721", area_path=("74", "74721"), category=VenueCategory.market,
        default_stay_minutes=60, max_stay_minutes=240,
    )


def test_an_event_id_seen_before_is_answered_true():
    seen, event_id = SeenEvents(), uuid4()
    assert seen.seen_before(event_id, T0) is False
    assert seen.seen_before(event_id, T0) is True
    assert seen.seen_before(str(event_id), T0 + MINUTE) is True  # a str or a UUID alike
    assert seen.seen_before(uuid4(), T0) is False


def test_an_event_id_is_forgotten_once_newer_events_pass_the_horizon():
    seen, old = SeenEvents(horizon=timedelta(hours=1)), uuid4()
    seen.seen_before(old, T0)
    seen.seen_before(uuid4(), T0 + 60 * MINUTE)  # exactly the horizon: still remembered
    assert old in seen
    seen.seen_before(uuid4(), T0 + 61 * MINUTE)
    assert old not in seen and len(seen) == 2


def test_an_event_older_than_the_horizon_is_not_remembered():
    seen = SeenEvents(horizon=timedelta(hours=1))
    seen.seen_before(uuid4(), T0 + 120 * MINUTE)
    late = uuid4()
    assert seen.seen_before(late, T0) is False and late not in seen


def test_past_the_cap_the_oldest_tenth_is_evicted_first():
    seen = SeenEvents(cap=100)
    ids = [uuid4() for _ in range(101)]
    for i, event_id in enumerate(reversed(ids)):  # arriving newest first
        seen.seen_before(event_id, T0 + i * -MINUTE)
    assert len(seen) == 90
    assert all(event_id in seen for event_id in ids[-90:])  # the newest by event time
    assert not any(event_id in seen for event_id in ids[:11])


def test_seen_events_round_trip_through_bytes_and_a_dict():
    seen = SeenEvents()
    ids = [uuid4() for _ in range(5)]
    for i, event_id in enumerate(ids):
        seen.seen_before(event_id, T0 + i * MINUTE)
    copy = SeenEvents.from_bytes(seen.to_bytes())
    assert all(copy.seen_before(event_id, T0) for event_id in ids)
    assert SeenEvents.from_dict(seen.to_dict()).to_dict() == seen.to_dict()


def test_the_same_venue_and_direction_within_the_debounce_is_a_double_scan():
    first = scan(MARKET, "in", 0)
    assert is_double_scan([first], scan(MARKET, "in", 59), timedelta(seconds=60))
    assert not is_double_scan([first], scan(MARKET, "in", 60), timedelta(seconds=60))


def test_another_venue_or_direction_is_not_a_double_scan():
    first = scan(MARKET, "auto", 0)
    assert not is_double_scan([first], scan(SHOP, "auto", 10), timedelta(seconds=60))
    assert not is_double_scan([first], scan(MARKET, "in", 10), timedelta(seconds=60))
    assert is_double_scan([first], scan(MARKET, "auto", 10), timedelta(seconds=60))


def test_a_double_scan_is_decided_in_event_time_against_the_last_kept_scan():
    later, this = scan(MARKET, "in", 30), scan(MARKET, "in", 20)
    # A scan after this one in event time does not make it a double.
    assert not is_double_scan([later], this, timedelta(seconds=60))
    chain = [scan(MARKET, "in", 0), scan(MARKET, "in", 50)]  # the second one is a double
    assert not is_double_scan(chain, scan(MARKET, "in", 100), timedelta(seconds=60))


def test_a_debounce_of_zero_turns_double_scans_off():
    first = scan(MARKET, "in", 0)
    assert not is_double_scan([first], scan(MARKET, "in", 0), timedelta(0))
