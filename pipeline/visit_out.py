"""A visit as pairing makes it, and its JSON written directly.

The worker sends about two visit versions per scan; building each as a `Visit` model and
serialising it through pydantic cost more than the rest of the pairing. `VisitOut` keeps
what pairing knows (the key, the scan naming the visit, the fingerprint, the version) and
writes the record's JSON itself, the same bytes `Visit.model_dump_json` gives (every value
comes from scans validation accepted; tests/test_visit_out.py compares them, field by
field and byte for byte, and reads every output back through the model). `model()` is the
`Visit`, for whoever reads its fields.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple
from uuid import UUID, uuid5

from schemas.registry import VenueCategory
from schemas.visits import EntryHow, ExitHow, Visit

from .dedup import from_micros, to_micros
from .person_state import Fingerprint, ScanRow

VISIT_NAMESPACE = UUID("3d16a4c8-dc6d-4287-9710-512627483ade")


def visit_id(person_id: str, key: str) -> str:
    """Pairing's rule 8: uuid5 of the person and the visit's key, as text."""
    return str(uuid5(VISIT_NAMESPACE, f"{person_id}|{key}"))


@lru_cache(maxsize=65_536)
def _iso(micros: int) -> str:
    """As pydantic writes an aware datetime: UTC with "Z", microseconds only when not 0.
    Cached: a visit's times come back with each of its versions, and a batch's visits
    share their ``updated_at``."""
    return from_micros(micros).isoformat()[:-6] + "Z"


@lru_cache(maxsize=4096)
def _place(venue_id: str, area_id: str, area_path: tuple[str, ...], category: str) -> str:
    """The venue's part of the record, the same for all its visits."""
    return (f'"venue_id":{json.dumps(venue_id)},"area_id":{json.dumps(area_id, ensure_ascii=False)},'
            f'"area_path":{json.dumps(list(area_path), ensure_ascii=False, separators=(",", ":"))},'
            f'"category":{json.dumps(category)}')


class VisitOut(NamedTuple):
    person_id: str
    key: str  # "in|<entry event>", or "out|<exit event>" when the entry is inferred
    row: ScanRow  # the scan named in the key: venue, area and category come from it
    fingerprint: Fingerprint
    version: int
    deleted: bool
    updated_at: datetime

    @property
    def visit_id(self) -> str:
        return visit_id(self.person_id, self.key)

    @property
    def exit_how(self) -> str:
        return self.fingerprint[2]

    @property
    def entry_scanned(self) -> bool:
        return self.key[1] == "n"  # "in|..."

    def to_bytes(self) -> bytes:
        t_in, t_out, exit_how, exit_event = self.fingerprint
        row, scanned = self.row, self.entry_scanned
        entry = f'"{row.event_id}"' if scanned else "null"
        exit_ = "null" if exit_event is None else f'"{exit_event}"'
        return (f'{{"schema_version":1,"visit_id":"{self.visit_id}","version":{self.version},'
                f'"person_id":"{self.person_id}",{_place(row.venue_id, row.area_id, row.area_path, row.category)},'
                f'"t_in":"{_iso(t_in)}","t_out":"{_iso(t_out)}",'
                f'"entry_how":"{"scan" if scanned else "inferred"}","exit_how":"{exit_how}",'
                f'"entry_event_id":{entry},"exit_event_id":{exit_},'
                f'"deleted":{"true" if self.deleted else "false"},"updated_at":"{_iso(to_micros(self.updated_at))}"}}').encode()

    def model(self) -> Visit:
        """The `Visit` (built without validation: every field comes from validated scans;
        tests/test_visit_out.py validates them)."""
        t_in, t_out, exit_how, exit_event = self.fingerprint
        row = self.row
        return Visit.model_construct(
            visit_id=UUID(self.visit_id), version=self.version, person_id=self.person_id, venue_id=row.venue_id,
            area_id=row.area_id, area_path=row.area_path, category=VenueCategory(row.category),
            t_in=from_micros(t_in), t_out=from_micros(t_out),
            entry_how=EntryHow.scan if self.entry_scanned else EntryHow.inferred, exit_how=ExitHow(exit_how),
            entry_event_id=UUID(row.event_id) if self.entry_scanned else None,
            exit_event_id=None if exit_event is None else UUID(exit_event),
            deleted=self.deleted, updated_at=self.updated_at,
        )
