"""Pairing a person's scans into visits: pure functions on a small per-person state.

Every scan recomputes the person's visits from their recent scans sorted in event time
(scanned_at, then event id) and emits only what changed, with the next version. That
is what makes the latest visits independent of arrival order: a late scan is simply
sorted into place. The state keeps only the last `HORIZON` of scans; older, settled
visits are pruned and leave behind where the last one ended (`anchor_end`).

The rules, over the scans in event time; t is the scan's time, "inside" an open visit:
 1. Double scan: same venue and direction as sent (auto included) less than the
    debounce after the last kept such scan -> ignored.
 2. Timeout: inside a visit past its venue's maximum stay at t -> it closes at entry +
    default stay (timeout), unless rule 7 applies.
 3. auto is "out" when inside a visit at this venue, else "in".
 4. in: inside this venue -> a repeated entry, ignored (the visit goes on); inside
    another -> it closes at t (next_scan) and a visit opens; inside none -> one opens.
 5. out: inside this venue -> it closes at t (scan); inside another venue W -> a visit
    here from max(t - default stay here, W's entry), inferred, to t, and W closes at
    that instant (next_scan); inside none -> a visit from max(t - default stay, end of
    the previous visit or anchor_end), inferred, to t.
 6. At the end: a visit still open past its maximum stay at `now` (wall clock) closes
    by timeout; otherwise it is sent open, ending provisionally at entry + default stay.
 7. An explicit out at the venue of a visit that timed out, as the person's next kept
    scan and at most 24 h after the entry, ends that visit at t (scan).
 8. visit_id = uuid5(VISIT_NAMESPACE, "person|in|entry event"), or "person|out|exit
    event" when the entry is inferred; venue, area and category come from that scan.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from schemas.scans import ValidScan
from schemas.visits import Visit

from .dedup import Debouncer, from_micros, to_micros
from .person_state import Emitted, Fingerprint, PersonState, ScanRow  # noqa: F401 - the state's home
from .settings import default
from .visit_out import VISIT_NAMESPACE, VisitOut  # noqa: F401 - the namespace's home is visit_out

# The settings' defaults; the worker passes the configured values.
DEFAULT_DEBOUNCE = timedelta(seconds=default("debounce_seconds"))
ACCEPTED_LATENESS = timedelta(hours=default("accepted_lateness_hours"))  # validation refuses older scans (by wall clock)
EXIT_AFTER_TIMEOUT_WINDOW = timedelta(hours=24)  # rule 7
# A visit whose scans are all older than this can no longer be changed by any scan
# validation accepts (rule 7 reaches a day back from the oldest accepted scan): pruned.
HORIZON = ACCEPTED_LATENESS + EXIT_AFTER_TIMEOUT_WINDOW
# Pruning walks all of a person's scans, so it waits until the oldest one is this far
# past the horizon: a few full walks a day per person, not one per scan.
PRUNE_SLACK = timedelta(hours=6)
# Far above what a person scans in 78 hours; it bounds the cost of a faulty device's
# flood: past it, new scans are refused (Outcome.over_capacity) until pruning.
MAX_SCANS_PER_PERSON = 1000
# The share one venue may hold of that: a device (every device is bound to one venue)
# flooding a person's code fills the person's scans at its own venue only, and their
# scans elsewhere still pair. 200 at one venue in 78 hours is one every 23 minutes.
MAX_SCANS_PER_PERSON_AT_VENUE = 200

_EXIT_AFTER_TIMEOUT_US = to_micros(EXIT_AFTER_TIMEOUT_WINDOW)
_PRUNE_SLACK_US = to_micros(PRUNE_SLACK)


class Outcome(StrEnum):
    """What became of a scan on arrival, for counters. A later scan can change that
    (a double scan may turn out to be the first), so counts describe arrivals; the
    visits are exact."""

    accepted = "accepted"
    double_scan = "double_scan"
    repeat_entry = "repeat_entry"
    duplicate_event = "duplicate_event"  # this event is already in the state: a redelivery
    too_late = "too_late"  # before anchor_end: its neighbours were pruned, cannot be placed
    over_capacity = "over_capacity"  # MAX_SCANS_PER_PERSON, or its share at one venue, reached (a flood)


class _Walk(NamedTuple):
    visits: list[tuple[str, ScanRow, Fingerprint]]  # (key, its scan, ...) in time order
    outcome: Outcome  # of the watched row
    # Clean cuts (i, end of the last visit before row i): no open visit is carried into
    # row i, so the rows before i are settled for any scan sorted after row i.
    cuts: list[tuple[int, int | None]]


def _ended(row: ScanRow, t_in: int, t_out: int, exit_how: str,
           exit_event_id: str | None) -> tuple[str, ScanRow, Fingerprint]:
    """A visit keyed by its entry scan ``row``."""
    return "in|" + row.event_id, row, (t_in, t_out, exit_how, exit_event_id)


def _walk(rows: list[ScanRow], start: int, prev_end: int | None, now_us: int,
          debounce_us: int, watch: int = -1) -> _Walk:
    """Rules 1-7 over ``rows[start:]`` (sorted in event time), the previous visit having
    ended at ``prev_end``. The only place the rules are written down."""
    visits: list[tuple[str, ScanRow, Fingerprint]] = []
    cuts: list[tuple[int, int | None]] = []
    outcome = Outcome.accepted
    debouncer = Debouncer(debounce_us)
    inside: ScanRow | None = None  # the entry scan of the open visit
    for i in range(start, len(rows)):
        row = rows[i]
        at = row.at
        if debouncer.is_double(row.venue_id, row.direction, at):  # rule 1
            if i == watch:
                outcome = Outcome.double_scan
            continue
        direction = row.direction
        if inside is not None:
            default_us, max_us = inside.default_us, inside.max_us
            if at > inside.at + max_us:  # rule 2
                if (direction == "out" and row.venue_id == inside.venue_id
                        and at <= inside.at + _EXIT_AFTER_TIMEOUT_US):  # rule 7
                    visits.append(_ended(inside, inside.at, at, "scan", row.event_id))
                    prev_end, inside = at, None
                    continue
                # Not auto here: a timeout means we assumed the person left, so a toggle
                # from "outside" is an entry.
                prev_end = inside.at + default_us
                visits.append(_ended(inside, inside.at, prev_end, "timeout", None))
                inside = None
        if direction == "auto":  # rule 3
            direction = "out" if inside is not None and inside.venue_id == row.venue_id else "in"
        if direction == "in":  # rule 4
            if inside is not None:
                if inside.venue_id == row.venue_id:
                    # A re-scan at the same door is a duplicate or a check-out, never a
                    # second visit: the visit goes on.
                    if i == watch:
                        outcome = Outcome.repeat_entry
                    continue
                visits.append(_ended(inside, inside.at, at, "next_scan", None))
                prev_end = at
            cuts.append((i, prev_end))
            inside = row
            continue
        # rule 5
        if inside is not None and inside.venue_id == row.venue_id:
            visits.append(_ended(inside, inside.at, at, "scan", row.event_id))
        else:
            t_in = at - row.default_us
            if inside is not None:
                # W ends where this visit starts, so it cannot start before W did
                # (W shrinks to nothing at worst, and visits never overlap).
                t_in = max(t_in, inside.at)
                visits.append(_ended(inside, inside.at, t_in, "next_scan", None))
            else:
                cuts.append((i, prev_end))
                if prev_end is not None:  # min: never end before the start
                    t_in = min(max(t_in, prev_end), at)
            # Keyed by its exit scan, the only scan it has.
            visits.append(("out|" + row.event_id, row, (t_in, at, "scan", row.event_id)))
        prev_end, inside = at, None
    if inside is not None:  # rule 6
        default_us, max_us = inside.default_us, inside.max_us
        exit_how = "timeout" if now_us > inside.at + max_us else "open"
        visits.append(_ended(inside, inside.at, inside.at + default_us, exit_how, None))
        if exit_how == "timeout":
            prev_end, inside = inside.at + default_us, None
    if inside is None:
        cuts.append((len(rows), prev_end))
    return _Walk(visits, outcome, cuts)


def _emit_changes(state: PersonState, visits: list[tuple[str, ScanRow, Fingerprint]],
                  start: int, now: datetime) -> list[VisitOut]:
    """Compare the visits walked from ``start`` with what was emitted for them.
    Deletions first (so a visit that changes its id is never counted twice), then new
    or changed visits in time order, each with the next version of its id."""
    out: list[VisitOut] = []
    emitted = state.emitted
    current = {key for key, _, _ in visits}
    for row in state.scans[start:]:  # a visit can only vanish while its scan is here
        for key in ("in|" + row.event_id, "out|" + row.event_id):
            e = emitted.get(key)
            if e is not None and not e.deleted and key not in current:
                emitted[key] = Emitted(e.version + 1, True, e.fingerprint)
                out.append(VisitOut(state.person_id, key, row, e.fingerprint, e.version + 1, True, now))
    for key, row, fp in visits:
        e = emitted.get(key)
        if e is None or e.deleted or e.fingerprint != fp:
            version = 1 if e is None else e.version + 1
            emitted[key] = Emitted(version, False, fp)
            out.append(VisitOut(state.person_id, key, row, fp, version, False, now))
    return out


def _usable(rows: list[ScanRow], i: int, debounce_us: int) -> bool:
    """A cut before row i can be resumed from or pruned at if the row after it is a full
    debounce later, so no double-scan decision after the cut depends on a row before."""
    return 0 < i and (i == len(rows) or rows[i].at - rows[i - 1].at >= debounce_us)


def _prune(state: PersonState, cuts: list[tuple[int, int | None]], cutoff_us: int,
           debounce_us: int) -> None:
    """Forget the rows before the last usable cut older than ``cutoff_us``, with every
    visit they name: settled (see HORIZON), they leave without a deletion."""
    rows = state.scans
    usable = [(i, end) for i, end in cuts
              if _usable(rows, i, debounce_us) and rows[i - 1].at < cutoff_us]
    if not usable:
        return
    i, end = usable[-1]
    for row in rows[:i]:
        state.emitted.pop("in|" + row.event_id, None)
        state.emitted.pop("out|" + row.event_id, None)
    del rows[:i]
    if end is not None:
        state.anchor_end = from_micros(end)
    state.resume_at = max(state.resume_at - i, 0)
    if state.resume_at == 0:
        state.resume_end = None


def _recompute(state: PersonState, now: datetime, debounce: timedelta, horizon: timedelta,
               inserted: int = -1) -> tuple[list[VisitOut], Outcome]:
    rows, now_us, debounce_us = state.scans, to_micros(now), to_micros(debounce)
    cutoff_us = now_us - to_micros(horizon)
    prune = bool(rows) and rows[0].at < cutoff_us - _PRUNE_SLACK_US
    start, prev_end = state.resume_at, state.resume_end
    if prune or start == 0 or 0 <= inserted <= start:  # walk it all
        start = 0
        prev_end = None if state.anchor_end is None else to_micros(state.anchor_end)
    walk = _walk(rows, start, prev_end, now_us, debounce_us, inserted)
    changed = _emit_changes(state, walk.visits, start, now)
    resume = [(i, end) for i, end in walk.cuts if i < len(rows) and _usable(rows, i, debounce_us)]
    if resume:
        state.resume_at, state.resume_end = resume[-1]
    elif start == 0:
        state.resume_at, state.resume_end = 0, None
    if prune:
        _prune(state, walk.cuts, cutoff_us, debounce_us)
    return changed, walk.outcome


def apply_scan(state: PersonState, scan: ValidScan, now: datetime,
               debounce: timedelta = DEFAULT_DEBOUNCE,
               horizon: timedelta = HORIZON) -> tuple[PersonState, list[VisitOut], Outcome]:
    """Add one accepted scan; returns the state, the visits that changed (deletions
    first) and what became of the scan. ``now``, the wall clock, decides open versus
    timed out at the end, and what is old enough to prune."""
    if scan.person_id != state.person_id:
        raise ValueError(f"scan of {scan.person_id} given to the state of {state.person_id}")
    row = ScanRow.of(scan)
    if state.anchor_end is not None and row.at < to_micros(state.anchor_end):
        return state, [], Outcome.too_late
    rows = state.scans
    i = bisect.bisect_left(rows, row)
    if i < len(rows) and rows[i][:2] == row[:2]:
        return state, [], Outcome.duplicate_event
    if len(rows) >= MAX_SCANS_PER_PERSON or (
            len(rows) >= MAX_SCANS_PER_PERSON_AT_VENUE
            and sum(r.venue_id == row.venue_id for r in rows) >= MAX_SCANS_PER_PERSON_AT_VENUE):
        return state, [], Outcome.over_capacity
    rows.insert(i, row)
    changed, outcome = _recompute(state, now, debounce, horizon, inserted=i)
    return state, changed, outcome


def advance(state: PersonState, now: datetime, debounce: timedelta = DEFAULT_DEBOUNCE,
            horizon: timedelta = HORIZON) -> tuple[PersonState, list[VisitOut]]:
    """The wall clock moved on: time out an open visit past its maximum stay, prune
    what is past the horizon. Returns the state and the visits that changed."""
    changed, _ = _recompute(state, now, debounce, horizon)
    return state, changed


def next_timeout(state: PersonState) -> datetime | None:
    """When `advance` will next emit: the open visit's maximum stay ends (None: no
    visit is open, and pruning alone emits nothing)."""
    for key, e in state.emitted.items():
        t_in, _, exit_how, _ = e.fingerprint
        if not e.deleted and exit_how == "open":
            event_id = key.partition("|")[2]
            row = next(r for r in reversed(state.scans) if r.event_id == event_id)
            return from_micros(t_in + row.max_us)
    return None


def sent_visits(state: PersonState, now: datetime) -> list[VisitOut]:
    """The latest record sent for each visit the state still remembers, as it was sent
    (same id, version and content; ``updated_at`` is ``now``).

    For redelivery: a worker that crashed after its table's changelog was written but
    before the visits it sent were acknowledged finds, on replay, the scan already in the
    state and nothing to change. Sending these again (duplicates with the same id and
    version are allowed downstream) is what keeps such a crash from losing a visit."""
    rows = {row.event_id: row for row in state.scans}
    out = []
    for key, emitted in state.emitted.items():
        row = rows.get(key.partition("|")[2])
        if row is not None:
            out.append(VisitOut(state.person_id, key, row, emitted.fingerprint, emitted.version,
                                emitted.deleted, now))
    return out


def compute_visits(scans: list[ValidScan], now: datetime,
                   debounce: timedelta = DEFAULT_DEBOUNCE,
                   anchor_end: datetime | None = None) -> list[Visit]:
    """The visits of one person's scans (in any order) as of ``now``, all at version 1:
    a pure function of the set of scans, ``now`` and ``anchor_end``."""
    if not scans:
        return []
    person_ids = {s.person_id for s in scans}
    if len(person_ids) != 1:
        raise ValueError("compute_visits takes the scans of one person")
    rows = sorted({ScanRow.of(s) for s in scans})
    anchor_us = None if anchor_end is None else to_micros(anchor_end)
    walk = _walk(rows, 0, anchor_us, to_micros(now), to_micros(debounce))
    person_id = person_ids.pop()
    return [VisitOut(person_id, key, row, fp, 1, False, now).model() for key, row, fp in walk.visits]
