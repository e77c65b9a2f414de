"""The tier-count views count every scan once, at every tier, and equal a recount from
the raw scans; a day whose views lost an insert (a process killed between the commits of
the scans part and the views' parts) is found and rebuilt."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from conftest import run_cli
from pipeline.settings import Settings
from pipeline.warehouse import Warehouse, open_warehouse
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.queries import load, run
from pipeline.warehouse.tier_counts import days_to_rebuild, mismatches, repair
from schemas import ValidScan
from warehouse_day import backend_settings, generate_day, load_records, warehouse  # noqa: F401 (fixtures)


def recount(scans: list[ValidScan]) -> dict[str, dict]:
    counted: dict[str, dict] = defaultdict(lambda: {"scans": 0, "entries": 0, "exits": 0, "declared": 0,
                                                     "with_symptoms": 0, "people": set(), "venues": set()})
    for scan in scans:
        for area in scan.area_path:
            c = counted[area]
            c["scans"] += 1
            c["entries"] += scan.direction.value == "in"
            c["exits"] += scan.direction.value == "out"
            c["declared"] += scan.declaration.value != "none"
            c["with_symptoms"] += scan.declaration.value == "symptoms"
            c["people"].add(scan.person_id)
            c["venues"].add(scan.venue_id)
    return counted


def test_every_tier_counts_each_scan_once(warehouse: Warehouse) -> None:
    day = generate_day(persons=300, seed=4)
    load_records(warehouse, "scans", ValidScan, day.unique_scans())
    load_records(warehouse, "venues", type(day.venues[0]), day.venues)
    expected = recount(day.unique_scans())
    for area in ("74", "718"):
        result = run(warehouse, load("tier_counts"), {"area": area, "from_day": str(day.day),
                                                      "to_day": str(day.day + timedelta(days=2))})
        rows = {r["area_id"]: r for r in result.dicts()}
        assert list(rows)[0] == area and len(rows) > 1
        for area_id, row in rows.items():
            want = expected[area_id]
            assert (row["scans"], row["entries"], row["exits"]) == (want["scans"], want["entries"], want["exits"])
            assert (row["people"], row["venues_scanned"]) == (len(want["people"]), len(want["venues"]))
            assert (row["scans_declared"], row["scans_with_symptoms"]) == (want["declared"], want["with_symptoms"])
            assert row["venues_registered"] == sum(area_id in v.area_path for v in day.venues)
    assert not mismatches(warehouse).rows
    assert 0 < expected["74"]["with_symptoms"] < expected["74"]["declared"] < expected["74"]["scans"]


def test_the_hourly_counts_of_an_area_count_scans_with_a_declaration_and_with_symptoms(warehouse: Warehouse) -> None:
    day = generate_day(persons=200, seed=9)
    scans = day.unique_scans()
    load_records(warehouse, "scans", ValidScan, scans)
    start = min(s.scanned_at for s in scans).replace(minute=0, second=0, microsecond=0)
    result = run(warehouse, load("area_counts_by_hour"), {"area": "718", "from": start.isoformat(),
                                                          "to": (start + timedelta(days=2)).isoformat()})
    by_hour: dict[str, dict] = {}
    for scan in scans:
        if "718" in scan.area_path:
            hour = by_hour.setdefault(scan.scanned_at.replace(minute=0, second=0, microsecond=0).isoformat(),
                                      {"scans": 0, "declared": 0, "with_symptoms": 0})
            hour["scans"] += 1
            hour["declared"] += scan.declaration.value != "none"
            hour["with_symptoms"] += scan.declaration.value == "symptoms"
    got = {r["hour"]: {"scans": r["scans"], "declared": r["scans_declared"], "with_symptoms": r["scans_with_symptoms"]}
           for r in result.dicts()}
    assert len(got) > 3
    assert list(got.values()) == [by_hour[h] for h in sorted(by_hour)]


def test_a_day_whose_views_missed_an_insert_is_found_and_rebuilt(warehouse: Warehouse) -> None:
    day = generate_day(persons=100, seed=6)
    load_records(warehouse, "scans", ValidScan, day.unique_scans())
    assert days_to_rebuild(warehouse) == [] and not mismatches(warehouse).rows
    # What a kill between the commits leaves: the scans part without its view parts.
    warehouse.command("DELETE FROM tier_counts_hourly WHERE toDate(hour) = {day:Date}", {"day": day.day})
    assert days_to_rebuild(warehouse) == [day.day] and mismatches(warehouse).rows
    assert repair(warehouse) == [day.day]
    assert days_to_rebuild(warehouse) == [] and not mismatches(warehouse).rows
    assert repair(warehouse) == []
    # A repaired day counts the declarations again too: the rebuilt rows equal a recount.
    expected = recount(day.unique_scans())["74"]
    assert warehouse.query("SELECT sum(scans_declared), sum(scans_with_symptoms) FROM tier_counts_hourly "
                           "WHERE area_id = '74'").rows == [[expected["declared"], expected["with_symptoms"]]]


def test_warehouse_check_reports_a_mismatch_and_repairs_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", clickhouse_url=None)
    day = generate_day(persons=40, seed=8)
    with open_warehouse(settings) as opened:
        migrate(opened, settings.retention_days)
        load_records(opened, "scans", ValidScan, day.unique_scans())
        opened.command("DELETE FROM tier_counts_daily WHERE day = {day:Date}", {"day": day.day})
    env = {"RAVAO_DATA_DIR": str(settings.data_dir), "PATH": "/usr/bin:/bin"}
    found = run_cli("warehouse", "check", env=env, check=False)
    assert found.returncode == 1 and "mismatch" in found.stdout
    fixed = run_cli("warehouse", "check", "--repair", env=env)
    assert f"rebuilt 1 day(s): {day.day}" in fixed.stdout and "equal a recount" in fixed.stdout
