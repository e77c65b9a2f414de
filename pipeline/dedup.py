"""Dropping what was already seen: the same event twice, or the same scan twice in a row.

Two different questions live here:

* `SeenEvents`: "did this event id come before?" Devices retry and Kafka redelivers, and
  one event must count once everywhere.
* `Debouncer`: "is this a second scan of the same person, venue and direction within the
  debounce window?" A reader fires twice, a guard scans a card twice. Pairing asks it
  while it walks a person's scans in event time, so the answer does not depend on the
  order scans arrive in; `is_double_scan` asks it about one scan against a history.

Times are kept as integer microseconds since the epoch: exact, cheap to compare, and
plain JSON numbers when the worker stores the state in a Faust table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from uuid import UUID

from schemas.scans import ValidScan

from .settings import default

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MICROSECOND = timedelta(microseconds=1)

# Validation refuses events older than the accepted lateness, so an id need not be
# remembered longer than that.
DEFAULT_SEEN_HORIZON = timedelta(hours=default("accepted_lateness_hours"))
# A person scans a few dozen times a day; this bounds a flood from a faulty device.
DEFAULT_SEEN_CAP = 2000


def to_micros(at: datetime | timedelta) -> int:
    """An aware datetime as microseconds since the epoch, or a duration in microseconds."""
    if isinstance(at, timedelta):
        return at // ONE_MICROSECOND
    return (at - EPOCH) // ONE_MICROSECOND


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


class SeenEvents:
    """The event ids of one person seen recently (the worker partitions by person and
    keeps one of these per person in a table, so each stays small).

    An id is forgotten once an event more than ``horizon`` newer, in event time, has been
    seen. Event time rather than wall clock makes the answer the same on a replay. At
    most ``cap`` ids are kept: past the cap the oldest tenth (by event time) is dropped
    in one go, so a flood costs a sort every ``cap / 10`` events instead of a search of
    the whole table on every event.
    """

    __slots__ = ("horizon_us", "cap", "_seen", "_newest", "_oldest")

    def __init__(
        self,
        horizon: timedelta = DEFAULT_SEEN_HORIZON,
        cap: int = DEFAULT_SEEN_CAP,
        seen: dict[str, int] | None = None,
    ) -> None:
        if cap < 10:
            raise ValueError("the cap of SeenEvents must be at least 10")
        self.horizon_us = to_micros(horizon)
        self.cap = cap
        self._seen: dict[str, int] = dict(seen or {})
        self._newest = max(self._seen.values(), default=None)
        self._oldest = min(self._seen.values(), default=None)

    def seen_before(self, event_id: UUID | str, at: datetime) -> bool:
        """True if ``event_id`` was seen before; otherwise remembers it and says False."""
        key = str(event_id)
        if key in self._seen:
            return True
        at_us = to_micros(at)
        if self._newest is None or at_us > self._newest:
            self._newest = at_us
        limit = self._newest - self.horizon_us
        if at_us < limit:
            # Older than anything we still remember: it would be forgotten at once.
            # Validation refuses such late events before they get here.
            return False
        self._seen[key] = at_us
        if self._oldest is None or at_us < self._oldest:
            self._oldest = at_us
        if self._oldest < limit:
            self._expire(limit)
        if len(self._seen) > self.cap:
            self._evict_oldest()
        return False

    def _expire(self, limit: int) -> None:
        self._seen = {k: t for k, t in self._seen.items() if t >= limit}
        self._oldest = min(self._seen.values(), default=None)

    def _evict_oldest(self) -> None:
        keep = self.cap - self.cap // 10
        newest_first = sorted(self._seen.items(), key=lambda item: item[1], reverse=True)
        self._seen = dict(newest_first[:keep])
        self._oldest = min(self._seen.values(), default=None)

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, event_id: object) -> bool:
        return str(event_id) in self._seen

    def to_dict(self) -> dict[str, object]:
        """JSON-able; the horizon and cap are settings, passed again on load."""
        return {"v": 1, "seen": self._seen}

    @classmethod
    def from_dict(
        cls,
        data: dict[str, object],
        horizon: timedelta = DEFAULT_SEEN_HORIZON,
        cap: int = DEFAULT_SEEN_CAP,
    ) -> SeenEvents:
        if data.get("v") != 1:
            raise ValueError(f"unknown SeenEvents format {data.get('v')!r}")
        return cls(horizon, cap, data["seen"])  # type: ignore[arg-type]

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(
        cls,
        data: bytes | str,
        horizon: timedelta = DEFAULT_SEEN_HORIZON,
        cap: int = DEFAULT_SEEN_CAP,
    ) -> SeenEvents:
        return cls.from_dict(json.loads(data), horizon, cap)


class Debouncer:
    """Fed one person's scans in event-time order; says which are double scans.

    A scan less than ``window`` after the last *kept* scan with the same venue and the
    same direction (``auto`` included, as sent, before it is resolved) is a double scan.
    Comparing with the last kept scan, not the last scan, means a reader firing every
    second keeps one scan per window instead of swallowing everything after the first.
    A window of zero turns debouncing off.
    """

    __slots__ = ("window_us", "_last_kept")

    def __init__(self, window: timedelta | int) -> None:
        self.window_us = window if isinstance(window, int) else to_micros(window)
        self._last_kept: dict[tuple[str, str], int] = {}

    def is_double(self, venue_id: str, direction: str, at_us: int) -> bool:
        key = (venue_id, direction)
        last = self._last_kept.get(key)
        if last is not None and at_us - last < self.window_us:
            return True
        self._last_kept[key] = at_us
        return False


def is_double_scan(history: Iterable[ValidScan], scan: ValidScan, debounce: timedelta) -> bool:
    """Whether ``scan`` is a double scan given the person's other scans ``history``.

    Decided in event time (sorted by scanned_at, then event id), as pairing decides it,
    so it does not matter whether ``history`` holds scans that arrived after ``scan``.
    """
    target = (scan.scanned_at, scan.event_id)
    earlier = sorted(
        (s for s in history if (s.scanned_at, s.event_id) < target),
        key=lambda s: (s.scanned_at, s.event_id),
    )
    debouncer = Debouncer(debounce)
    for s in earlier:
        debouncer.is_double(s.venue_id, s.direction.value, to_micros(s.scanned_at))
    return debouncer.is_double(scan.venue_id, scan.direction.value, to_micros(scan.scanned_at))
