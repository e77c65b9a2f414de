"""`ravao migrate`: every migration once, in order, recorded; running it again changes
nothing; the retention setting reaches every TTL through a typed parameter."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli
from pipeline.settings import Settings
from pipeline.warehouse import Warehouse, open_warehouse
from pipeline.warehouse.migrations import RETENTION_DIR, migrate, migrations
from schemas.dlq import raw_fields
from warehouse_day import backend_settings, warehouse  # noqa: F401 (fixtures)


def tables(warehouse: Warehouse) -> dict[str, str]:
    rows = warehouse.query("SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()").rows
    return dict(rows)


def test_migrations_are_numbered_one_change_per_file() -> None:
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    for migration in found:
        code = [line for line in migration.sql.splitlines() if not line.startswith("--")]
        assert ";" not in "\n".join(code), f"{migration.path.name}: one statement per file"
        first = code[0]
        # DROP only for a table no release wrote to (0033: the first shape of alerts).
        assert first.startswith(("CREATE TABLE IF NOT EXISTS", "CREATE MATERIALIZED VIEW IF NOT EXISTS",
                                 "ALTER TABLE", "DROP TABLE IF EXISTS", "INSERT INTO")), first
        if first.startswith("INSERT INTO"):  # a backfill: repeated, it must change nothing
            table = first.split()[2]
            [created] = [m for m in found if f"CREATE TABLE IF NOT EXISTS {table}\n" in m.sql + "\n"]
            assert "ENGINE = ReplacingMergeTree\n" in created.sql and created.version < migration.version, \
                f"{migration.path.name}: a backfill only into a table that keeps one row per key"
        if first.startswith("ALTER TABLE"):  # repeated after a crash before it was recorded: harmless
            # A view's new query (MODIFY QUERY) is the same query when repeated.
            assert (" IF NOT EXISTS " in migration.sql or " IF EXISTS " in migration.sql
                    or " MODIFY QUERY" in first), migration.path.name


def test_every_migration_is_applied_once_and_recorded(warehouse: Warehouse, backend_settings: Settings) -> None:
    recorded = warehouse.query("SELECT version, name FROM schema_migrations FINAL ORDER BY version").rows
    assert recorded == [[m.version, m.name] for m in migrations()]
    before = tables(warehouse)
    assert migrate(warehouse, backend_settings.retention_days) == []  # the second run
    assert tables(warehouse) == before
    assert warehouse.query("SELECT count() FROM schema_migrations").scalar() == len(migrations())


def test_retention_days_become_every_ttl_and_change_only_when_the_setting_does(warehouse: Warehouse) -> None:
    with_ttl = {path.stem for path in RETENTION_DIR.glob("*.sql")}
    assert {"scans", "visits", "visit_slots", "visits_by_person", "tier_counts_daily"} <= with_ttl
    for name, create in tables(warehouse).items():
        if name in with_ttl:
            assert "toIntervalDay(_CAST(30, 'UInt16'))" in create, name
            # Day partitions are dropped whole; the few month-partitioned tables (looked up
            # by key, see their migrations) lose expired rows in TTL merges.
            assert ("PARTITION BY toDate(" in create and "ttl_only_drop_parts = 1" in create) or (
                "PARTITION BY toYYYYMM(" in create and "ttl_only_drop_parts = 0" in create), name
    migrate(warehouse, 9)
    for name, create in tables(warehouse).items():
        if name in with_ttl:
            assert "toIntervalDay(_CAST(9, 'UInt16'))" in create, name
    assert warehouse.query("SELECT count() FROM warehouse_settings").scalar() == 2
    migrate(warehouse, 9)
    assert warehouse.query("SELECT count() FROM warehouse_settings").scalar() == 2


def test_ravao_migrate_twice_from_the_command_line(tmp_path: Path) -> None:
    env = {"RAVAO_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    first = run_cli("migrate", env=env)
    assert f"applied {len(migrations())} migration(s)" in first.stdout
    second = run_cli("migrate", env=env)
    assert "applied 0 migration(s)" in second.stdout
    with open_warehouse(Settings(data_dir=tmp_path / "data", clickhouse_url=None)) as opened:
        assert "scans" in tables(opened)


def test_dead_letters_keep_the_length_and_an_older_row_gets_it_from_its_bytes(warehouse: Warehouse) -> None:
    common = {"reason": "oversized", "message": "m", "source_topic": "scans.raw", "source_partition": 0,
              "event_id": "", "rejected_at": "2026-11-20T01:00:00Z", "kafka_partition": 0, "kafka_offset": 0}
    older = {**common, "raw_base64": "eHl6", "source_offset": 1}  # written before 0025: b"xyz", whole
    newer = {**common, **raw_fields(b"x" * 1_000_000), "source_offset": 2}
    warehouse.insert_json("dead_letters", b"\n".join(json.dumps(row).encode() for row in (older, newer)),
                          token="test-dead-letter-lengths")
    rows = warehouse.query("SELECT source_offset, raw_length, raw_truncated, length(raw_base64) FROM dead_letters "
                           "FINAL ORDER BY source_offset").rows
    assert [tuple(r) for r in rows] == [(1, 3, False, 4), (2, 1_000_000, True, 5464)]
