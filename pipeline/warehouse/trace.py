"""`ravao trace`: a case's contacts, F1 and (depth 2) F2, through the query library.

Output is person ids only. Names, phones and ID numbers are added only on request
(``with_names``), through the warehouse's door (`Warehouse.read_personal`), which writes
the audit row itself, with the actor it knows, before it reads: if that write fails,
nothing personal is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .base import Result
from .client import Warehouse
from .queries import load, run

DEFAULT_LOOKBACK = timedelta(days=14)
COLUMNS = ["degree", "person_id", "overlap_seconds", "overlaps", "via", "venues", "first_contact", "last_contact"]
NAME_COLUMNS = ["full_name", "phone", "id_number"]


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


def default_start(warehouse: Warehouse, person: str, now: datetime) -> datetime:
    """14 days before the onset of the person's case, or 14 days ago without a case."""
    onset = run(warehouse, load("case_onset"), {"person": person}).scalar()
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


def add_names(warehouse: Warehouse, result: Result, request: TraceRequest, on_behalf_of: str | None = None) -> Result:
    """The result with each person's personal data, by the named personal query. The
    caller (the authorization layer, `pipeline.access`) decides whether its caller may
    read it and audits the read; ``on_behalf_of`` (whom the caller says it asks for) goes
    with the statement of purpose."""
    persons = sorted({row[1] for row in result.rows})
    detail = {"query": "trace", "depth": request.depth, "from": request.start.isoformat(),
              "to": request.end.isoformat(), "min_overlap_seconds": request.min_overlap_seconds}
    if on_behalf_of:
        detail["on_behalf_of"] = on_behalf_of
    read = warehouse.read_personal("personal_data_of", {"persons": persons}, action="trace_with_names",
                                   subject=request.person, detail=detail)
    found = {r["person_id"]: r for r in read.dicts()}
    rows = [row + [found.get(row[1], {}).get(c, "") for c in NAME_COLUMNS] for row in result.rows]
    return Result(result.columns + NAME_COLUMNS, [], rows)
