"""Each materialized view writes its SELECT's columns by position into its target table:
the columns must match, in order, by name and type (a SimpleAggregateFunction column
takes its argument's type). The repair statements that rebuild the tier counts too."""

from __future__ import annotations

import re

from pipeline.warehouse import Warehouse
from pipeline.warehouse.migrations import statement
from pipeline.warehouse.tier_counts import REPAIR_DIR
from warehouse_day import backend_settings, warehouse  # noqa: F401 (fixtures)

SIMPLE = re.compile(r"^SimpleAggregateFunction\(\w+, (.+)\)$")


def target_columns(warehouse: Warehouse, table: str) -> list[tuple[str, str]]:
    rows = warehouse.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
        "ORDER BY position", {"t": table}).rows
    return [(name, SIMPLE.sub(r"\1", type_)) for name, type_ in rows]


def select_columns(warehouse: Warehouse, select: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in warehouse.query(f"DESCRIBE TABLE ({select})").rows]


def test_every_view_selects_its_target_columns_in_order(warehouse: Warehouse) -> None:
    views = warehouse.query(
        "SELECT name, as_select, create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND engine = 'MaterializedView' ORDER BY name").rows
    assert {v[0] for v in views} == {"tier_counts_hourly_mv", "tier_counts_daily_mv", "visit_slots_mv", "scans_incoming_mv",
                                     "visits_by_person_mv", "accounts_incoming_mv",
                                     "notifications_incoming_mv", "venue_scan_days_mv"}
    for name, select, create in views:
        target = re.search(r"\bTO (?:`?\w+`?\.)?`?(\w+)`?", create).group(1)
        assert select_columns(warehouse, select) == target_columns(warehouse, target), name


def test_the_tier_count_repairs_select_the_target_columns_in_order(warehouse: Warehouse) -> None:
    for table in ("tier_counts_daily", "tier_counts_hourly"):
        sql = statement(REPAIR_DIR / f"{table}.sql")
        select = sql[sql.index("\nSELECT"): sql.rindex("SETTINGS")].replace("{day:Date}", "today()")
        assert select_columns(warehouse, select) == target_columns(warehouse, table), table
