"""The ground truth: what really happened, and the visits the pipeline must make of it.

The expected visits are worked out here from the plan and the README's pairing rules,
not with `pipeline/pairing.py`, so a test that compares them checks the pipeline against
an independent account. The plan makes this simple: a person's scans never swap order
(stays and ways are longer than any clock skew), double scans are known as such (they
are ignored: rule 2), forged codes never reach the pairing, and every other scan is
valid. What is left is one walk over each person's entries and exits.

The truth file is JSON Lines, one object per line, told apart by ``type``:

- ``run``: seed, day, people, areas, communes, venues, devices, skewed phones
- ``stay``: a true stay: person_id, venue_id, category, t_in, t_out, entry and exit
  (how each was scanned: station, staff, self, or none)
- ``visit``: a visit the rules must give: person_id, venue_id, t_in, t_out, entry_how,
  exit_how, entry_event_id, exit_event_id, stay (the person's stay number), and
  open_until (for a visit left without an exit: before that instant the pipeline
  reports it ``open``, after it ``timeout``, with the same t_out)
- ``rejected``: event_id, person_id, reason (the forged codes: ``bad_signature``)
- ``summary``: counts of scans by kind, late scans, offline stations, skewed phones, ...
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from schemas.registry import Venue
from schemas.scans import Direction

from .scanning import SentScan, Traffic

EXIT_AFTER_TIMEOUT = timedelta(hours=24)  # rule 7


@dataclass(frozen=True)
class ExpectedVisit:
    person_id: str
    venue_id: str
    t_in: datetime
    t_out: datetime
    entry_how: str  # scan, inferred
    exit_how: str  # scan, next_scan, timeout (or open, before open_until)
    entry_event_id: str | None
    exit_event_id: str | None
    stay: int
    open_until: datetime | None = None

    def exit_how_at(self, now: datetime) -> str:
        """What the pipeline reports at ``now``: a visit left without an exit is open
        until its venue's maximum stay has passed."""
        if self.open_until is not None and now <= self.open_until:
            return "open"
        return self.exit_how


def expected_visits(scans: list[SentScan], venues: dict[str, Venue]) -> list[ExpectedVisit]:
    by_person: dict[str, list[SentScan]] = defaultdict(list)
    for scan in scans:
        if scan.kind in ("entry", "exit"):  # doubles are ignored (rule 2), forgeries refused
            by_person[scan.person_id].append(scan)
    visits: list[ExpectedVisit] = []
    for person_id, own in by_person.items():
        own.sort(key=lambda s: s.scanned_at)
        if any(a.stay > b.stay for a, b in zip(own, own[1:])):
            raise AssertionError(f"the plan swapped two scans of {person_id}: the simulation is wrong")
        visits += _walk(person_id, own, venues)
    return visits


def _walk(person_id: str, scans: list[SentScan], venues: dict[str, Venue]) -> list[ExpectedVisit]:
    out: list[ExpectedVisit] = []
    inside: SentScan | None = None  # the entry scan of the visit the person is in
    last_end: datetime | None = None

    def stays(venue_id: str) -> tuple[timedelta, timedelta]:
        venue = venues[venue_id]
        return timedelta(minutes=venue.default_stay_minutes), timedelta(minutes=venue.max_stay_minutes)

    def close(t_out: datetime, how: str, exit_scan: SentScan | None = None) -> None:
        nonlocal inside, last_end
        out.append(ExpectedVisit(person_id, inside.venue_id, inside.scanned_at, t_out, "scan", how,
                                 str(inside.event_id), str(exit_scan.event_id) if exit_scan else None, inside.stay))
        inside, last_end = None, t_out

    for scan in scans:
        t, here = scan.scanned_at, scan.venue_id
        if inside is not None:
            default, maximum = stays(inside.venue_id)
            if t > inside.scanned_at + maximum:  # past the maximum stay
                if scan.direction is Direction.exit and here == inside.venue_id and \
                        t <= inside.scanned_at + EXIT_AFTER_TIMEOUT:
                    close(t, "scan", scan)  # rule 7: the exit after a timeout ends that visit
                    continue
                close(inside.scanned_at + default, "timeout")
        direction = scan.direction
        if direction is Direction.auto:  # rule 4
            direction = Direction.exit if inside is not None and inside.venue_id == here else Direction.entry
        if direction is Direction.entry:  # rule 5
            if inside is not None and inside.venue_id == here:
                continue  # a repeated entry: the visit goes on
            if inside is not None:
                close(t, "next_scan")
            inside = scan
            continue
        if inside is not None and inside.venue_id == here:  # rule 6
            close(t, "scan", scan)
            continue
        default_here, _ = stays(here)
        t_in = t - default_here
        if inside is not None:  # inside another venue: it ends where this one starts
            t_in = max(t_in, inside.scanned_at)
            close(t_in, "next_scan")
        elif last_end is not None:
            t_in = min(max(t_in, last_end), t)
        out.append(ExpectedVisit(person_id, here, t_in, t, "inferred", "scan", None, str(scan.event_id), scan.stay))
        last_end = t
    if inside is not None:  # rule 8 (and 3, once the maximum stay has passed)
        default, maximum = stays(inside.venue_id)
        out.append(ExpectedVisit(person_id, inside.venue_id, inside.scanned_at, inside.scanned_at + default,
                                 "scan", "timeout", str(inside.event_id), None, inside.stay,
                                 open_until=inside.scanned_at + maximum))
    return out


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def write_truth(handle: IO[str], run: dict, traffic: Traffic, visits: list[ExpectedVisit],
                summary: dict) -> None:
    def line(record: dict) -> None:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    line({"type": "run", **run})
    for record in traffic.stays:
        stay = record.stay
        line({"type": "stay", "person_id": record.person_id, "stay": record.number,
              "venue_id": stay.place.venue.venue_id, "category": stay.place.category.value,
              "t_in": _iso(stay.t_in), "t_out": _iso(stay.t_out), "entry": record.entry, "exit": record.exit})
    for v in visits:
        line({"type": "visit", "person_id": v.person_id, "venue_id": v.venue_id, "t_in": _iso(v.t_in),
              "t_out": _iso(v.t_out), "entry_how": v.entry_how, "exit_how": v.exit_how,
              "entry_event_id": v.entry_event_id, "exit_event_id": v.exit_event_id, "stay": v.stay,
              "open_until": _iso(v.open_until)})
    for scan in traffic.scans:
        if scan.kind == "forged":
            line({"type": "rejected", "event_id": str(scan.event_id), "person_id": scan.person_id,
                  "reason": "bad_signature"})
    line({"type": "summary", **summary})


def read_truth(path: Path) -> dict[str, list[dict]]:
    """The truth file's records by type."""
    records: dict[str, list[dict]] = defaultdict(list)
    with path.open(encoding="utf-8") as handle:
        for raw in handle:
            record = json.loads(raw)
            records[record.pop("type")].append(record)
    return records


def summarise(traffic: Traffic, visits: list[ExpectedVisit]) -> dict:
    kinds = Counter(s.kind for s in traffic.scans)
    return {"scans": len(traffic.scans), "entries": kinds["entry"], "exits": kinds["exit"],
            "doubles": kinds["double"], "forged": kinds["forged"], "late": traffic.late,
            "offline_stations": len(traffic.offline), "stays": len(traffic.stays),
            "stays_without_scan": sum(1 for s in traffic.stays if s.entry == s.exit == "none"),
            "visits": len(visits), "visits_by_exit": dict(Counter(v.exit_how for v in visits)),
            "visits_inferred_entry": sum(1 for v in visits if v.entry_how == "inferred")}
