"""Properties of pairing over random scan histories: arrival order never matters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from pairing_helpers import advance, apply_scan
from pipeline.pairing import (
    ACCEPTED_LATENESS,
    Outcome,
    PersonState,
    compute_visits,
)
from schemas.ids import new_id
from schemas.registry import STAYS, VenueCategory
from schemas.scans import Direction, ScanSource, ValidScan
from schemas.visits import Visit

PERSON = new_id("P")
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)
TWO_DAYS = 2 * 24 * 3600
# Short, medium and long stays, so timeouts, exits after timeouts and inferred entries
# all happen within two days: checkpoint 15min/1h, market 1h/4h, factory 8h/12h.
VENUES = [
    (new_id("V"), VenueCategory.checkpoint, ("74", "74718")),
    (new_id("V"), VenueCategory.market, ("74", "74721")),
    (new_id("V"), VenueCategory.factory, ("74", "74725")),
]
# Gaps (seconds) around the debounce, the stays and the one-day window, plus any.
GAPS = st.one_of(
    st.sampled_from([0, 1, 30, 59, 60, 61, 900, 3600, 5 * 3600, 9 * 3600, 13 * 3600, 25 * 3600]),
    st.integers(0, 14 * 3600),
)


def draw_scan(draw, event_id, offset: int) -> ValidScan:
    venue_id, category, path = draw(st.sampled_from(VENUES))
    return ValidScan(
        event_id=event_id, source=ScanSource.station, person_id=PERSON, venue_id=venue_id,
        direction=draw(st.sampled_from(list(Direction))),
        scanned_at=T0 + timedelta(seconds=offset), received_at=T0, area_id=path[-1],
        area_path=path, category=category,
        default_stay_minutes=STAYS[category][0], max_stay_minutes=STAYS[category][1],
    )


@st.composite
def histories(draw):
    """Up to 12 scans of one person over three venues within two days, in time order,
    a permutation of them (the arrival order) and the final wall clock."""
    n = draw(st.integers(1, 12))
    event_ids = draw(st.lists(st.uuids(), min_size=n, max_size=n, unique=True))
    scans, offset = [], 0
    for event_id in event_ids:
        offset = min(offset + draw(GAPS), TWO_DAYS)
        scans.append(draw_scan(draw, event_id, offset))
    scans.sort(key=lambda s: (s.scanned_at, s.event_id))
    arrival = draw(st.permutations(scans))
    final_now = scans[-1].scanned_at + timedelta(seconds=draw(GAPS))
    return scans, arrival, final_now


def replay(arrival: list[ValidScan], final_now: datetime) -> list[Visit]:
    """Feed scans one by one, the wall clock at the newest scan seen so far (it never
    runs behind a scan it accepted), then tick to ``final_now``; all emissions."""
    state, emitted, clock = PersonState(PERSON), [], arrival[0].scanned_at
    for scan in arrival:
        clock = max(clock, scan.scanned_at)
        state, changed, _ = apply_scan(state, scan, clock)
        emitted += changed
    state, changed = advance(state, final_now)
    return emitted + changed


def latest(emitted: list[Visit]) -> list[Visit]:
    """The latest version of every visit, unless that version deletes it."""
    last: dict = {}
    for v in emitted:
        last[v.visit_id] = v
    return [v for v in last.values() if not v.deleted]


def contents(visits: list[Visit]) -> dict:
    """Visits by id, every field but version and updated_at."""
    return {v.visit_id: v.model_dump(exclude={"version", "updated_at"}) for v in visits}


@settings(max_examples=200, deadline=None)
@given(histories())
def test_the_latest_visits_do_not_depend_on_the_arrival_order(history):
    in_order, arrival, final_now = history
    expected = contents(latest(replay(in_order, final_now)))
    assert contents(latest(replay(arrival, final_now))) == expected
    assert contents(compute_visits(arrival, final_now)) == expected


@settings(max_examples=200, deadline=None)
@given(histories())
def test_the_latest_visits_of_a_person_never_overlap_and_are_valid(history):
    _, arrival, final_now = history
    emitted = replay(arrival, final_now)
    visits = [Visit.model_validate(v.model_dump()) for v in latest(emitted)]
    visits.sort(key=lambda v: (v.t_in, v.t_out))
    for a, b in zip(visits, visits[1:]):
        assert not (a.t_in < b.t_out and b.t_in < a.t_out), (a, b)


@settings(max_examples=200, deadline=None)
@given(histories())
def test_versions_of_a_visit_increase_strictly_in_emission_order(history):
    _, arrival, final_now = history
    last_version: dict = {}
    for v in replay(arrival, final_now):
        assert v.version > last_version.get(v.visit_id, 0)
        last_version[v.visit_id] = v.version


@st.composite
def weeks(draw):
    """Up to 30 scans over days, each arriving up to the accepted lateness after it was
    made, as (arrival time, scan) in arrival order."""
    n = draw(st.integers(1, 30))
    event_ids = draw(st.lists(st.uuids(), min_size=n, max_size=n, unique=True))
    arrivals, offset = [], 0
    lateness = int(ACCEPTED_LATENESS.total_seconds())
    for event_id in event_ids:
        offset += draw(GAPS)
        scan = draw_scan(draw, event_id, offset)
        delay = draw(st.one_of(st.just(0), st.integers(0, lateness)))
        arrivals.append((scan.scanned_at + timedelta(seconds=delay), scan))
    arrivals.sort(key=lambda pair: pair[0])
    return arrivals


@settings(max_examples=100, deadline=None)
@given(weeks())
def test_pruning_changes_nothing_for_scans_within_the_accepted_lateness(arrivals):
    state, emitted = PersonState(PERSON), []
    for clock, scan in arrivals:
        state, changed = advance(state, clock)  # the worker's ticks
        emitted += changed
        state, changed, outcome = apply_scan(state, scan, clock)
        assert outcome not in (Outcome.too_late, Outcome.over_capacity)
        emitted += changed
    final_now = arrivals[-1][0] + timedelta(days=5)
    state, changed = advance(state, final_now)
    all_scans = [scan for _, scan in arrivals]
    assert contents(latest(emitted + changed)) == contents(compute_visits(all_scans, final_now))
    assert state.is_empty  # everything settled and pruned
