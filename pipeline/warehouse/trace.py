"""`ravao trace`: a case's contacts, F1 and (depth 2) F2, through the query library.

Output is person ids only. Names, phones and ID numbers are added by the authorization
layer (`pipeline.access.reads.Reads.trace`), which writes the audit row first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .base import Result
from .client import Warehouse
from .queries import load, run

DEFAULT_LOOKBACK = timedelta(days=14)
COLUMNS = ["degree", "person_id", "overlap_seconds", "overlaps", "via", "venues", "first_contact", "last_contact"]


@dataclass(frozen=True)
class TraceRequest:
    person: str
    start: datetime
    end: datetime
    min_overlap_seconds: int
    depth: int = 1

    def params(self) -> dict:
        return {"person": self.person, "from": self.start, "to": self.end,
                "min_overlap_seconds": self.min_overlap_seconds}


def default_start(reads, caller, person: str, now: datetime, purpose: str | None) -> datetime:
    """14 days before the onset of the person's case, or 14 days ago without a case."""
    onset = reads.case_onset(caller, person, purpose)
    if onset:
        start = datetime.fromisoformat(onset).replace(tzinfo=timezone.utc)
        return start - DEFAULT_LOOKBACK
    return now - DEFAULT_LOOKBACK


def trace(warehouse: Warehouse, request: TraceRequest) -> Result:
    rows = []
    names = ["f1_contacts"] + (["f2_contacts"] if request.depth >= 2 else [])
    for degree, name in enumerate(names, start=1):
        result = run(warehouse, load(name), request.params())
        for record in result.dicts():
            rows.append([f"F{degree}"] + [record[c] for c in COLUMNS[1:]])
    return Result(COLUMNS, [], rows)
