"""One test per pairing rule (see the docstring of pipeline/pairing.py), without Kafka."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import UUID, uuid4, uuid5

import pytest

from pairing_helpers import advance, apply_scan, sent_visits
from pipeline import pairing
from pipeline.dedup import to_micros
from pipeline.pairing import (
    HORIZON,
    PRUNE_SLACK,
    VISIT_NAMESPACE,
    Outcome,
    PersonState,
    compute_visits,
    next_timeout,
)
from schemas.ids import new_id
from schemas.registry import STAYS, VenueCategory
from schemas.scans import Direction, ScanSource, ValidScan
from schemas.visits import EntryHow, ExitHow, Visit

PERSON = new_id("P")
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)
# name -> (venue id, category, area path); default/max stays: factory 8h/12h,
# market 1h/4h, shop 30min/3h.
VENUES = {
    "factory": (new_id("V"), VenueCategory.factory, ("74", "74718")),
    "market": (new_id("V"), VenueCategory.market, ("74", "74721")),
    "shop": (new_id("V"), VenueCategory.shop, ("74", "74725")),
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def scan(venue: str, direction: str, minutes: float, event_id: UUID | None = None) -> ValidScan:
    venue_id, category, path = VENUES[venue]
    return ValidScan(
        event_id=event_id or uuid4(), source=ScanSource.station, person_id=PERSON,
        venue_id=venue_id, direction=Direction(direction), scanned_at=at(minutes),
        received_at=at(minutes), area_id=path[-1], area_path=path, category=category,
        default_stay_minutes=STAYS[category][0], max_stay_minutes=STAYS[category][1],
    )


def feed(scans: list[ValidScan], now: datetime | None = None, state: PersonState | None = None):
    """Apply scans in the given (arrival) order; returns state, all emissions, outcomes."""
    state = state or PersonState(PERSON)
    emitted: list[Visit] = []
    outcomes: list[Outcome] = []
    for s in scans:
        state, changed, outcome = apply_scan(state, s, now or max(s.scanned_at, at(0)))
        emitted += changed
        outcomes.append(outcome)
    return state, emitted, outcomes


def visits_of(scans: list[ValidScan], now_minutes: float) -> list[Visit]:
    visits = compute_visits(scans, at(now_minutes))
    for v in visits:  # model_construct skipped validation: check the model's own rules
        Visit.model_validate(v.model_dump())
    return visits


def span(v: Visit) -> tuple[datetime, datetime, EntryHow, ExitHow]:
    return v.t_in, v.t_out, v.entry_how, v.exit_how


def test_an_entry_opens_a_visit_that_ends_provisionally_after_the_default_stay():
    entry = scan("market", "in", 0)
    [visit] = visits_of([entry], now_minutes=30)
    assert span(visit) == (at(0), at(60), EntryHow.scan, ExitHow.open)
    assert visit.entry_event_id == entry.event_id and visit.exit_event_id is None


def test_an_exit_at_the_same_venue_closes_the_open_visit():
    exit_ = scan("market", "out", 45)
    [visit] = visits_of([scan("market", "in", 0), exit_], now_minutes=50)
    assert span(visit) == (at(0), at(45), EntryHow.scan, ExitHow.scan)
    assert visit.exit_event_id == exit_.event_id


def test_an_entry_elsewhere_closes_the_open_visit():
    market, shop = visits_of([scan("market", "in", 0), scan("shop", "in", 20)], now_minutes=25)
    assert span(market) == (at(0), at(20), EntryHow.scan, ExitHow.next_scan)
    assert span(shop) == (at(20), at(50), EntryHow.scan, ExitHow.open)


def test_an_exit_elsewhere_infers_the_entry_and_closes_the_open_visit_at_that_instant():
    factory, shop = visits_of([scan("factory", "in", 0), scan("shop", "out", 120)], 130)
    assert span(factory) == (at(0), at(90), EntryHow.scan, ExitHow.next_scan)
    assert span(shop) == (at(90), at(120), EntryHow.inferred, ExitHow.scan)


def test_an_inferred_entry_elsewhere_never_starts_before_the_open_visit_began():
    market, factory = visits_of([scan("market", "in", 0), scan("factory", "out", 60)], 70)
    assert span(market) == (at(0), at(0), EntryHow.scan, ExitHow.next_scan)
    assert span(factory) == (at(0), at(60), EntryHow.inferred, ExitHow.scan)


def test_an_exit_without_entry_infers_the_entry_from_the_default_stay():
    exit_ = scan("shop", "out", 100)
    [visit] = visits_of([exit_], now_minutes=110)
    assert span(visit) == (at(70), at(100), EntryHow.inferred, ExitHow.scan)
    assert visit.entry_event_id is None and visit.exit_event_id == exit_.event_id


def test_an_inferred_entry_never_starts_before_the_previous_visit_ended():
    scans = [scan("shop", "in", 0), scan("shop", "out", 10), scan("market", "out", 40)]
    _, market = visits_of(scans, now_minutes=50)
    assert span(market) == (at(10), at(40), EntryHow.inferred, ExitHow.scan)


def test_a_repeated_entry_at_the_same_venue_continues_the_visit():
    state, emitted, outcomes = feed([scan("market", "in", 0), scan("market", "in", 30)])
    assert outcomes == [Outcome.accepted, Outcome.repeat_entry]
    assert len(emitted) == 1 and span(emitted[0]) == (at(0), at(60), EntryHow.scan, ExitHow.open)


def test_a_double_scan_within_the_debounce_is_ignored():
    first, double = scan("market", "out", 30), scan("market", "out", 30.5)
    _, emitted, outcomes = feed([scan("market", "in", 0), first, double])
    assert outcomes[2] is Outcome.double_scan
    assert emitted[-1].exit_event_id == first.event_id and emitted[-1].t_out == at(30)


def test_a_double_scan_is_decided_in_event_time_not_in_arrival_order():
    first, double = scan("market", "out", 30), scan("market", "out", 30.5)
    state, emitted, outcomes = feed([scan("market", "in", 0), double, first], now=at(40))
    assert outcomes[2] is Outcome.accepted  # `double` was kept when it came; now it is not
    assert emitted[-1].exit_event_id == first.event_id and emitted[-1].t_out == at(30)


def test_a_double_scan_is_measured_from_the_last_kept_scan():
    scans = [scan("market", "in", s / 60) for s in (0, 50, 100)]
    _, _, outcomes = feed(scans)
    assert outcomes == [Outcome.accepted, Outcome.double_scan, Outcome.repeat_entry]


def test_an_auto_double_scan_does_not_toggle_the_person_out():
    _, emitted, outcomes = feed([scan("market", "auto", 0), scan("market", "auto", 0.5)])
    assert outcomes == [Outcome.accepted, Outcome.double_scan]
    assert [v.exit_how for v in emitted] == [ExitHow.open]


def test_auto_toggles_between_entry_and_exit_at_one_venue():
    scans = [scan("market", "auto", m) for m in (0, 30, 50)]
    first, second = visits_of(scans, now_minutes=55)
    assert span(first) == (at(0), at(30), EntryHow.scan, ExitHow.scan)
    assert span(second) == (at(50), at(110), EntryHow.scan, ExitHow.open)


def test_auto_at_another_venue_is_an_entry_there():
    market, shop = visits_of([scan("market", "auto", 0), scan("shop", "auto", 20)], 25)
    assert span(market) == (at(0), at(20), EntryHow.scan, ExitHow.next_scan)
    assert span(shop) == (at(20), at(50), EntryHow.scan, ExitHow.open)


def test_a_visit_without_exit_within_its_maximum_stay_times_out_at_the_default_stay():
    market, shop = visits_of([scan("market", "in", 0), scan("shop", "in", 241)], 250)
    assert span(market) == (at(0), at(60), EntryHow.scan, ExitHow.timeout)
    assert span(shop)[:2] == (at(241), at(271))


def test_advance_times_out_the_open_visit_of_a_quiet_person():
    state, [opened], _ = feed([scan("market", "in", 0)], now=at(1))
    assert next_timeout(state) == at(240)
    state, changed = advance(state, at(240))  # not past the maximum stay yet
    assert changed == []
    state, [closed] = advance(state, at(241))
    assert closed.visit_id == opened.visit_id and closed.version == 2
    assert span(closed) == (at(0), at(60), EntryHow.scan, ExitHow.timeout)
    assert next_timeout(state) is None


def test_an_exit_after_a_timeout_within_a_day_ends_the_visit_at_the_exit():
    state, [opened], _ = feed([scan("factory", "in", 0)], now=at(1))
    state, [timed_out] = advance(state, at(13 * 60))
    assert timed_out.exit_how is ExitHow.timeout
    state, [shift], outcomes = feed([scan("factory", "out", 14 * 60)], state=state)
    assert shift.visit_id == opened.visit_id and shift.version == 3
    assert span(shift) == (at(0), at(14 * 60), EntryHow.scan, ExitHow.scan)


def test_an_exit_more_than_a_day_after_the_entry_is_an_exit_without_entry():
    entry, exit_ = scan("factory", "in", 0), scan("factory", "out", 25 * 60)
    shift, orphan = visits_of([entry, exit_], now_minutes=25 * 60 + 1)
    assert span(shift) == (at(0), at(8 * 60), EntryHow.scan, ExitHow.timeout)
    assert span(orphan) == (at(17 * 60), at(25 * 60), EntryHow.inferred, ExitHow.scan)


def test_an_exit_after_a_timeout_revises_it_only_as_the_next_scan():
    scans = [scan("factory", "in", 0), scan("shop", "in", 13 * 60),
             scan("shop", "out", 13.5 * 60), scan("factory", "out", 14 * 60)]
    shift, _, orphan = visits_of(scans, now_minutes=14 * 60 + 1)
    assert span(shift) == (at(0), at(8 * 60), EntryHow.scan, ExitHow.timeout)
    assert span(orphan) == (at(13.5 * 60), at(14 * 60), EntryHow.inferred, ExitHow.scan)


def test_an_auto_scan_after_a_timeout_is_a_new_entry():
    # The timeout assumed the person left; toggling from "outside" means entering.
    shift, again = visits_of([scan("factory", "auto", 0), scan("factory", "auto", 13 * 60)],
                             now_minutes=13 * 60 + 1)
    assert span(shift) == (at(0), at(8 * 60), EntryHow.scan, ExitHow.timeout)
    assert span(again) == (at(13 * 60), at(21 * 60), EntryHow.scan, ExitHow.open)


def test_visit_ids_are_uuid5_of_the_person_and_the_entry_or_else_the_exit_event():
    entry, orphan_exit = scan("market", "in", 0), scan("shop", "out", 200)
    # The shop exit has no entry there: the shop visit's entry is inferred.
    market, shop = visits_of([entry, orphan_exit], now_minutes=201)
    assert market.visit_id == uuid5(VISIT_NAMESPACE, f"{PERSON}|in|{entry.event_id}")
    assert shop.visit_id == uuid5(VISIT_NAMESPACE, f"{PERSON}|out|{orphan_exit.event_id}")


def test_a_visit_takes_venue_area_and_category_from_its_scan():
    [visit] = visits_of([scan("shop", "in", 0)], now_minutes=1)
    venue_id, category, path = VENUES["shop"]
    assert (visit.venue_id, visit.category, visit.area_id, visit.area_path) == (
        venue_id, category, path[-1], path)
    assert visit.person_id == PERSON and visit.version == 1 and not visit.deleted


def test_late_scans_from_an_offline_station_revise_visits_under_the_same_ids():
    # The factory's exit station was offline from 15:00 to 17:00 and sends late.
    state, live, _ = feed([scan("factory", "in", 0), scan("market", "in", 10 * 60)],
                          now=at(10 * 60))
    factory = live[-2]  # version 2: closed by the market entry at 17:00
    assert (factory.version, factory.exit_how) == (2, ExitHow.next_scan)
    late_exit = scan("factory", "out", 8 * 60 + 30)
    state, changed, outcomes = feed([late_exit], now=at(10 * 60 + 5), state=state)
    assert outcomes == [Outcome.accepted]
    [revised] = changed  # the market visit did not change, so it is not sent again
    assert revised.visit_id == factory.visit_id and revised.version == 3
    assert span(revised) == (at(0), at(8 * 60 + 30), EntryHow.scan, ExitHow.scan)


def test_a_visit_that_disappears_is_emitted_once_as_deleted():
    state, [orphan], _ = feed([scan("shop", "out", 100)], now=at(100))
    late_entry = scan("shop", "in", 80)
    state, changed, _ = feed([late_entry], now=at(101), state=state)
    gone, visit = changed  # deletions come first
    assert (gone.visit_id, gone.version, gone.deleted) == (orphan.visit_id, 2, True)
    assert visit.entry_event_id == late_entry.event_id and visit.version == 1
    assert span(visit) == (at(80), at(100), EntryHow.scan, ExitHow.scan)
    state, changed = advance(state, at(200))
    assert changed == []


def test_a_deleted_visit_that_comes_back_gets_the_next_version():
    state, [first], _ = feed([scan("market", "in", 0)], now=at(1))
    state, changed, _ = feed([scan("market", "in", -10)], now=at(2), state=state)
    assert [(v.visit_id, v.version, v.deleted) for v in changed][0] == (first.visit_id, 2, True)
    # An exit between the two entries makes the later one an entry again.
    state, changed, _ = feed([scan("market", "out", -5)], now=at(3), state=state)
    back = next(v for v in changed if v.visit_id == first.visit_id)
    assert (back.version, back.deleted) == (3, False)


def test_scans_in_order_rewalk_only_from_the_last_settled_visit_and_late_ones_still_fit():
    in_order = [scan("market", "in", 0), scan("market", "out", 30), scan("shop", "in", 40)]
    state, emitted, _ = feed(in_order)
    assert (state.resume_at, state.resume_end) == (2, to_micros(at(30)))
    # A late exit before the resume point: everything is walked again.
    late = scan("shop", "out", 10)
    state, changed, _ = feed([late], now=at(41), state=state)
    latest = {v.visit_id: v for v in emitted + changed}
    assert sorted(map(span, latest.values())) == [
        span(v) for v in visits_of([*in_order, late], now_minutes=41)]


def test_a_redelivered_event_changes_nothing():
    entry = scan("market", "in", 0)
    state, emitted, outcomes = feed([entry, entry])
    assert outcomes == [Outcome.accepted, Outcome.duplicate_event] and len(emitted) == 1


def test_pruning_forgets_settled_visits_without_deleting_them():
    state, _, _ = feed([scan("market", "in", 0), scan("market", "out", 30)])
    # Pruned once the oldest scan is older than the horizon plus the slack (78 hours).
    recent = scan("shop", "in", 79 * 60)
    state, _, _ = feed([recent], now=at(79 * 60), state=state)
    assert [s.event_id for s in state.scans] == [str(recent.event_id)]
    assert state.anchor_end == at(30) and len(state.emitted) == 1
    state, changed = advance(state, at(79 * 60 + 1))
    assert changed == []


def test_pruning_keeps_an_open_visit_until_it_is_settled():
    state, _, _ = feed([scan("factory", "in", 0)], now=at(1))
    state, changed = advance(state, at(-1) + HORIZON + PRUNE_SLACK)
    assert [v.exit_how for v in changed] == [ExitHow.timeout] and len(state.scans) == 1
    state, changed = advance(state, at(1) + HORIZON + PRUNE_SLACK)
    assert changed == [] and state.is_empty and state.anchor_end == at(8 * 60)


def test_an_exit_without_entry_after_pruning_starts_no_earlier_than_the_anchor():
    [visit] = compute_visits([scan("shop", "out", 10)], at(11), anchor_end=at(5))
    assert span(visit) == (at(5), at(10), EntryHow.inferred, ExitHow.scan)


def test_a_scan_before_the_anchor_is_refused_as_too_late():
    state = PersonState(PERSON, anchor_end=at(60))
    state, changed, outcome = apply_scan(state, scan("shop", "in", 30), at(61))
    assert (changed, outcome, state.scans) == ([], Outcome.too_late, [])


def test_a_flood_of_scans_is_refused_past_the_cap(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pairing, "MAX_SCANS_PER_PERSON", 3)
    _, _, outcomes = feed([scan("market", "auto", m) for m in range(4)])
    assert outcomes[-1] is Outcome.over_capacity


def test_one_devices_flood_of_a_persons_code_fills_only_that_venues_share():
    """A station posted 1,000 scans of one person's code: every later scan of that person,
    anywhere, was refused as over_capacity for three days, and they had no visits."""
    flood = [scan("market", "in", m / 100) for m in range(pairing.MAX_SCANS_PER_PERSON)]
    state, _, outcomes = feed(flood)
    assert outcomes.count(Outcome.over_capacity) == len(flood) - pairing.MAX_SCANS_PER_PERSON_AT_VENUE
    state, changed, outcome = apply_scan(state, scan("shop", "in", 30), at(30))
    assert outcome is Outcome.accepted
    assert any(v.venue_id == VENUES["shop"][0] for v in changed)


def test_the_state_round_trips_through_bytes_and_carries_on_the_same():
    state, _, _ = feed([scan("shop", "out", 10), scan("market", "in", 20), scan("shop", "in", 5)])
    state.anchor_end = at(-60)
    copy = PersonState.from_bytes(state.to_bytes())
    assert copy == state
    later = scan("market", "out", 50)
    _, from_original, _ = feed([later], state=state)
    _, from_copy, _ = feed([later], state=copy)
    assert from_copy == from_original


def test_compute_visits_does_not_depend_on_the_order_of_its_input():
    scans = [scan("market", "in", 0), scan("shop", "out", 90), scan("factory", "auto", 100)]
    assert compute_visits(scans, at(120)) == compute_visits(scans[::-1], at(120))


def test_sent_visits_repeat_the_latest_record_of_every_visit_for_a_replay():
    # entry at the market, a late entry elsewhere that withdraws nothing, an exit: the
    # state remembers what it sent; a replay after a crash sends exactly that again.
    scans = [scan("market", "in", 0), scan("shop", "in", 90), scan("market", "out", 60)]
    state, emitted, _ = feed(scans, now=at(200))
    latest: dict = {}
    for visit in emitted:
        latest[visit.visit_id] = visit
    again = {v.visit_id: v for v in sent_visits(state, at(300))}
    assert again.keys() == latest.keys()
    for visit_id, visit in latest.items():
        assert again[visit_id].model_dump(exclude={"updated_at"}) == visit.model_dump(exclude={"updated_at"})
