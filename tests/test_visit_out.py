"""The visits pairing sends are written without pydantic: the same bytes as the model's
own JSON, for every shape a visit takes, and a record every reader's model accepts."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from uuid import UUID, uuid4, uuid5

from pipeline.dedup import to_micros
from pipeline.person_state import ScanRow
from pipeline.visit_out import VISIT_NAMESPACE, VisitOut, visit_id
from schemas.ids import new_id
from schemas.registry import VenueCategory
from schemas.visits import Visit

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)


def shapes(seed: int = 7, count: int = 400) -> list[VisitOut]:
    """Entries scanned and inferred; exits by scan, next scan, timeout, still open;
    withdrawn or not; whole seconds and microseconds; areas with quotes and accents."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        whole_seconds = n % 3 == 0
        at = to_micros(T0) + (rng.randrange(0, 3 * 86_400) * 1_000_000 if whole_seconds
                              else rng.randrange(0, 3 * 86_400_000_000))
        area = rng.choice(["25741", 'Ph\u01b0\u1eddng "B\u1ebfn Th\u00e0nh"', "x\\y"])
        row = ScanRow(at, str(uuid4()), new_id("V"), rng.choice(["in", "out", "auto"]),
                      rng.choice(list(VenueCategory)).value, area, ("74", "718", area), 3_600_000_000, 14_400_000_000)
        exit_how = rng.choice(["scan", "next_scan", "timeout", "open"])
        exit_event = str(uuid4()) if exit_how == "scan" else None
        t_out = at + rng.randrange(0, 10_000_000_000)
        key = rng.choice(["in|", "out|"]) + row.event_id
        updated = T0 + timedelta(microseconds=rng.randrange(0, 10**12) * (n % 2))
        out.append(VisitOut(new_id("P"), key, row, (at, t_out, exit_how, exit_event), rng.randrange(1, 9),
                            rng.random() < 0.2, updated))
    return out


def test_the_bytes_are_the_models_own_json_for_every_shape() -> None:
    for visit in shapes():
        assert visit.to_bytes() == visit.model().model_dump_json().encode(), visit


def test_every_record_reads_back_as_the_same_visit() -> None:
    for visit in shapes(seed=11):
        assert Visit.from_bytes(visit.to_bytes()) == visit.model()


def test_the_visit_id_is_the_uuid5_of_person_and_key() -> None:
    for visit in shapes(seed=3, count=50):
        expected = uuid5(VISIT_NAMESPACE, f"{visit.person_id}|{visit.key}")
        assert UUID(visit.visit_id) == expected == visit.model().visit_id
        assert visit_id(visit.person_id, visit.key) == str(expected)


def test_an_inferred_entry_names_no_entry_event() -> None:
    inferred = [v for v in shapes(seed=5, count=40) if v.key.startswith("out|")]
    assert inferred
    for visit in inferred:
        model = Visit.from_bytes(visit.to_bytes())
        assert model.entry_how == "inferred" and model.entry_event_id is None
