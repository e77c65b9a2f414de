"""Rows past the retention are gone once TTL runs: whole day partitions dropped
(ttl_only_drop_parts), in the raw tables and in every table the views feed."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from pipeline.warehouse import Warehouse
from pipeline.warehouse.migrations import RETENTION_DIR, apply_retention
from schemas import Declaration, ValidScan, Visit
from warehouse_day import backend_settings, load_records, warehouse  # noqa: F401 (fixtures)


def test_rows_older_than_the_retention_are_dropped_when_ttl_runs(warehouse: Warehouse) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    old, recent = now - timedelta(days=5), now - timedelta(hours=2)
    path = ("74", "718", "25741")
    scans = [ValidScan(event_id=uuid.uuid4(), source="self", person_id="P" + "B" * 14, venue_id="V" + "C" * 14,
                       direction="in", scanned_at=at, area_id=path[-1], area_path=path, category="shop",
                       default_stay_minutes=30, max_stay_minutes=180) for at in (old, recent)]
    visits = [Visit(visit_id=uuid.uuid4(), version=1, person_id="P" + "B" * 14, venue_id="V" + "C" * 14,
                    area_id=path[-1], area_path=path, category="shop", t_in=at, t_out=at + timedelta(minutes=40),
                    entry_how="scan", exit_how="scan") for at in (old, recent)]
    load_records(warehouse, "scans", ValidScan, scans)
    load_records(warehouse, "visits", Visit, visits)
    declarations = [Declaration(person_id="P" + "B" * 14, declared_on=at.date(), declared_at=at, symptoms=["cough"])
                    for at in (old, recent)]
    load_records(warehouse, "declarations", Declaration, declarations)
    tables = sorted(path.stem for path in RETENTION_DIR.glob("*.sql"))

    def count(table: str) -> int:  # declarations is a personal table: past the door's refusal
        return int(json.loads(warehouse.query_raw(f"SELECT count() FROM {table}", {}, personal=True))["data"][0][0])

    before = {t: count(t) for t in tables}
    assert before["declarations"] == 2
    assert before["scans"] == 2 and before["visits"] == 2 and before["visit_slots"] > 2
    apply_retention(warehouse, 3)  # from 30 days: the rows of 5 days ago are now past it
    for table in tables:
        warehouse.command(f"OPTIMIZE TABLE {table} FINAL")
    after = {t: count(t) for t in tables}
    assert after["declarations"] == 1
    assert after["scans"] == 1 and after["visits"] == 1 and after["visits_by_person"] == 1
    assert after["tier_counts_daily"] == 3 and after["tier_counts_hourly"] == 3  # one row per tier
    assert 0 < after["visit_slots"] < before["visit_slots"]
    oldest = warehouse.query("SELECT min(scanned_at) FROM scans").scalar()
    assert oldest >= (now - timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
