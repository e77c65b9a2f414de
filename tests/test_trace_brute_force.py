"""`trace` returns exactly the contacts, and total overlaps to the millisecond, that a
brute-force computation over the latest, non-withdrawn visits returns: F1 and F2, several
cases, several minimum overlaps, whole and partial windows. Run on every backend."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

from pipeline.warehouse import Warehouse
from pipeline.warehouse.trace import TraceRequest, trace
from schemas import Visit
from warehouse_day import (  # noqa: F401 (fixtures)
    backend_settings,
    brute_f1,
    brute_f2,
    ch_time,
    generate_day,
    load_day,
    load_records,
    warehouse,
)


def rows_by_degree(result, degree: str) -> dict[str, dict]:
    return {r["person_id"]: r for r in result.dicts() if r["degree"] == degree}


def assert_same(got: dict[str, dict], expected: dict, what: str) -> None:
    assert set(got) == set(expected), f"{what}: {len(set(got) - set(expected))} extra, " \
                                      f"{len(set(expected) - set(got))} missing"
    for person, contact in expected.items():
        row = got[person]
        assert round(row["overlap_seconds"] * 1000) == contact.total_ms, (what, person)
        assert row["overlaps"] == contact.overlaps, (what, person)
        assert row["venues"] == sorted(contact.venues), (what, person)
        assert (row["first_contact"], row["last_contact"]) == (ch_time(contact.first), ch_time(contact.last))
        if contact.via:
            assert row["via"] == contact.via, (what, person)


def test_trace_equals_brute_force_for_random_cases_depths_and_thresholds(warehouse: Warehouse) -> None:
    day = generate_day()
    load_day(warehouse, day)
    live = day.live_visits()
    assert len(day.records) > 3000 and len(live) < len({str(v.visit_id) for v in day.records})
    rng = random.Random(11)
    busy = sorted({v.person_id for v in live})
    windows = [(day.start, day.start + timedelta(days=1)),
               (day.start + timedelta(hours=9), day.start + timedelta(hours=13, minutes=7))]
    checked_f2 = 0
    for case in rng.sample(busy, 4):
        for start, end in windows:
            for minimum in (60, 15 * 60, 40 * 60):
                result = trace(warehouse, TraceRequest(case, start, end, minimum, depth=2))
                what = f"case {case} {start:%H:%M}-{end:%H:%M} min {minimum}s"
                assert_same(rows_by_degree(result, "F1"), brute_f1(live, case, start, end, minimum), "F1 " + what)
                expected_f2 = brute_f2(live, case, start, end, minimum)
                assert_same(rows_by_degree(result, "F2"), expected_f2, "F2 " + what)
                checked_f2 += len(expected_f2)
                order = [(-r["overlap_seconds"], r["person_id"]) for r in result.dicts() if r["degree"] == "F1"]
                assert order == sorted(order)
    assert checked_f2 > 100  # the F2 comparison had something to compare


def test_a_revised_visit_counts_once_at_its_latest_times(warehouse: Warehouse) -> None:
    day = generate_day(persons=2, venues=1)
    venue = day.venues[0]
    t0 = day.start + timedelta(hours=10)

    def visit(person: str, start: datetime, minutes: int, **changes) -> Visit:
        base = Visit(visit_id=changes.pop("visit_id", uuid.uuid4()), version=changes.pop("version", 1),
                     person_id=person, venue_id=venue.venue_id, area_id=venue.area_id, area_path=venue.area_path,
                     category=venue.category, t_in=start, t_out=start + timedelta(minutes=minutes),
                     entry_how="scan", exit_how="scan")
        return base.model_copy(update=changes)

    case, contact, gone = "P" + "B" * 14, "P" + "C" * 14, "P" + "D" * 14
    kept = visit(contact, t0, 120)  # two hours together at first: eight shared slots
    revised = visit(contact, t0 + timedelta(minutes=100), 20, visit_id=kept.visit_id, version=2)
    withdrawn = visit(gone, t0, 120)
    records = [visit(case, t0, 120), revised, kept, kept, withdrawn,  # v2 before v1, v1 twice
               withdrawn.model_copy(update={"version": 2, "deleted": True})]
    load_records(warehouse, "visits", Visit, records)
    result = trace(warehouse, TraceRequest(case, day.start, day.start + timedelta(days=1), 60, depth=2))
    assert [(r["degree"], r["person_id"], r["overlap_seconds"], r["overlaps"]) for r in result.dicts()] == [
        ("F1", contact, 1200, 1)]


def test_overlap_is_counted_once_per_pair_of_visits_not_per_shared_slot(warehouse: Warehouse) -> None:
    day = generate_day(persons=2, venues=1)
    venue = day.venues[0]
    t0 = day.start + timedelta(hours=8, minutes=7)
    case, contact = "P" + "E" * 14, "P" + "F" * 14
    visits = [Visit(visit_id=uuid.uuid4(), version=1, person_id=p, venue_id=venue.venue_id, area_id=venue.area_id,
                    area_path=venue.area_path, category=venue.category, t_in=t0, t_out=t0 + timedelta(hours=3),
                    entry_how="scan", exit_how="scan") for p in (case, contact)]
    load_records(warehouse, "visits", Visit, visits)
    [row] = trace(warehouse, TraceRequest(case, day.start, day.start + timedelta(days=1), 60)).dicts()
    assert (row["person_id"], row["overlap_seconds"], row["overlaps"]) == (contact, 3 * 3600, 1)
    # A threshold above the true overlap but below 13 slots x overlap finds nobody.
    assert not trace(warehouse, TraceRequest(case, day.start, day.start + timedelta(days=1), 3 * 3600 + 1)).rows
