"""The warehouse contract, the same whichever way a process reaches the warehouse (chdb in
the process, the sink's door over ClickHouse's HTTP interface, a server): parameters
travel beside the SQL (never inside it), typed; results parse the same way; a batch
retried with its token lands once, in the table and in the views it feeds; a write
through a read is refused."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from pipeline.warehouse import Warehouse, WarehouseError
from schemas import ValidScan
from warehouse_day import any_warehouse, ch_time  # noqa: F401 (fixtures)


@pytest.fixture
def warehouse(any_warehouse: Warehouse) -> Warehouse:
    return any_warehouse


def test_values_are_bound_as_parameters_not_spliced_into_sql(warehouse: Warehouse) -> None:
    hostile = "x' OR 1=1 --\n\\'; DROP TABLE scans; {oops:String}\t«Nguyễn»"
    result = warehouse.query("SELECT {s:String} AS s, length({s:String}) AS n", {"s": hostile})
    assert result.columns == ["s", "n"] and result.rows == [[hostile, len(hostile.encode())]]
    assert "scans" in {r[0] for r in warehouse.query("SHOW TABLES").rows}


def test_parameters_are_typed(warehouse: Warehouse) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    at = datetime(2026, 3, 1, 8, 30, 15, 250000, tzinfo=timezone.utc)
    row = warehouse.query(
        "SELECT {ids:Array(UUID)} AS ids, {d:Date} + 1 AS d, {n:UInt32} * 2 AS n, {t:DateTime64(3, 'UTC')} AS t, "
        "{names:Array(String)} AS names",
        {"ids": ids, "d": date(2026, 2, 28), "n": 21, "t": at, "names": ["a'b", "c"]}).rows[0]
    assert row == [[str(i) for i in ids], "2026-03-01", 42, ch_time(at.replace(microsecond=0)), ["a'b", "c"]]


def test_a_missing_parameter_is_an_error_that_names_it(warehouse: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="person"):
        warehouse.query("SELECT {person:String}")


def scan(at: datetime, event_id: uuid.UUID | None = None) -> ValidScan:
    return ValidScan(event_id=event_id or uuid.uuid4(), source="station", person_id="P" + "B" * 14,
                     venue_id="V" + "C" * 14, direction="in", scanned_at=at, area_id="25741",
                     area_path=("74", "718", "25741"), category="market", default_stay_minutes=60,
                     max_stay_minutes=240)


def counts(warehouse: Warehouse) -> tuple[int, int, int]:
    return tuple(warehouse.query(
        "SELECT (SELECT count() FROM scans), (SELECT sum(scans) FROM tier_counts_daily WHERE area_id = '74'), "
        "(SELECT sum(scans) FROM tier_counts_hourly WHERE area_id = '25741')").rows[0])


def test_a_batch_retried_with_its_token_lands_once_in_the_table_and_its_views(warehouse: Warehouse) -> None:
    now = datetime.now(timezone.utc) - timedelta(hours=1)
    batch = b"\n".join(scan(now).to_bytes() for _ in range(3))
    warehouse.insert_json("scans", batch, token="scans:batch-1")
    warehouse.insert_json("scans", batch, token="scans:batch-1")  # the retry
    assert counts(warehouse) == (3, 3, 3)
    # Another batch whose rows make the very same view rows must still count.
    same_shape = b"\n".join(scan(now).to_bytes() for _ in range(3))
    warehouse.insert_json("scans", same_shape, token="scans:batch-2")
    assert counts(warehouse) == (6, 6, 6)


def test_a_query_cannot_change_data_on_any_backend(warehouse: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="INSERT statement"):
        warehouse.query("INSERT INTO areas (area_id) VALUES ('99')")


def test_scans_written_through_scans_incoming_land_once_per_event_id(warehouse: Warehouse) -> None:
    now = datetime.now(timezone.utc) - timedelta(hours=3)
    first = [scan(now) for _ in range(4)]
    repeated_id = first[0].event_id
    batch = [first[0], first[1], first[0], first[2]]  # an event id twice in one batch
    warehouse.insert_json("scans_incoming", b"\n".join(s.to_bytes() for s in batch), token="a")
    assert counts(warehouse) == (3, 3, 3)
    # A later batch: one new event, one stored before (a replay), the repeated one again.
    later = [first[3], first[1], scan(now, event_id=repeated_id)]
    warehouse.insert_json("scans_incoming", b"\n".join(s.to_bytes() for s in later), token="b")
    assert counts(warehouse) == (4, 4, 4)
    assert warehouse.query("SELECT uniqExact(event_id) FROM scans").scalar() == 4
