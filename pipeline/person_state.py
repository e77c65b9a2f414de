"""What pairing keeps per person: the scans within the horizon as rows with a total order,
and what was emitted per visit; stored in the worker's table as JSON. The rules that
change it are in `pipeline.pairing`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from schemas.scans import ValidScan

from .dedup import from_micros, to_micros

_MINUTE_US = 60_000_000


class ScanRow(NamedTuple):
    """What pairing needs of a scan, fields ordered so rows sort by event time, then by
    event id: a total order, so equal times sort the same way on every replay."""

    at: int  # scanned_at, microseconds since the epoch
    event_id: str
    venue_id: str
    direction: str
    category: str
    area_id: str
    area_path: tuple[str, ...]
    default_us: int  # the venue's default stay: a visit with no exit lasts this long
    max_us: int  # the venue's maximum stay: an open visit past it has timed out

    @classmethod
    def of(cls, scan: ValidScan) -> ScanRow:
        return cls(to_micros(scan.scanned_at), str(scan.event_id), scan.venue_id,
                   scan.direction.value, scan.category.value, scan.area_id, tuple(scan.area_path),
                   scan.default_stay_minutes * _MINUTE_US, scan.max_stay_minutes * _MINUTE_US)


# (t_in, t_out, exit_how, exit_event_id), times in microseconds: all a visit says that
# its key (which fixes the venue, area and entry) does not. Equal: no new version.
Fingerprint = tuple[int, int, str, "str | None"]


class Emitted(NamedTuple):
    version: int
    deleted: bool
    fingerprint: Fingerprint  # the last content sent, also sent again with a deletion


@dataclass(slots=True)
class PersonState:
    """One person's scans within the horizon, sorted; what was emitted per visit key
    ("in|<entry event>" or "out|<exit event>", the scan naming the visit); where the
    last pruned visit ended; and a resume point: the scans before ``resume_at`` form
    visits, the last ending at ``resume_end``, that no scan sorted after them changes,
    so a scan arriving in order re-walks only from there (0: walk everything).
    The functions below update the state in place and return it, to be stored back."""

    person_id: str
    scans: list[ScanRow] = field(default_factory=list)
    emitted: dict[str, Emitted] = field(default_factory=dict)
    anchor_end: datetime | None = None
    resume_at: int = 0
    resume_end: int | None = None  # microseconds

    @property
    def is_empty(self) -> bool:
        """Nothing left to remember: the worker may delete the table entry."""
        return not self.scans and not self.emitted

    def to_dict(self) -> dict:
        """JSON-able (tuples become lists), as a Faust table stores it."""
        anchor = None if self.anchor_end is None else to_micros(self.anchor_end)
        # Plain tuples: fast JSON encoders (orjson) refuse NamedTuples.
        return {"v": 1, "person_id": self.person_id, "anchor_end": anchor,
                "resume": [self.resume_at, self.resume_end],
                "scans": [tuple(row) for row in self.scans],
                "emitted": {key: tuple(e) for key, e in self.emitted.items()}}

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes | str) -> PersonState:
        return cls.from_dict(json.loads(data))

    @classmethod
    def from_dict(cls, d: dict) -> PersonState:
        if d.get("v") != 1:
            raise ValueError(f"unknown PersonState format {d.get('v')!r}")
        scans = []
        for row in d["scans"]:
            row = list(row)
            row[6] = tuple(row[6])
            scans.append(ScanRow._make(row))
        emitted = {key: Emitted(v, deleted, tuple(fp))
                   for key, (v, deleted, fp) in d["emitted"].items()}
        anchor = None if d["anchor_end"] is None else from_micros(d["anchor_end"])
        return cls(d["person_id"], scans, emitted, anchor, *d["resume"])
