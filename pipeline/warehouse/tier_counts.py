"""Keeping the tier-count views equal to the raw scans.

The sink writes each scan once, so the views count each scan once, with one exception
that ClickHouse cannot rule out: an INSERT commits the scans part and each view's part
one after the other, with nothing binding them (ClickHouse issues #11909, #104661). A
process killed between those commits leaves one day off by one insert. The embedded
engine dies with the sink, so the embedded sink checks the per-day totals at start and
rebuilds any day that disagrees from the raw scans, before it reads anything; and again
after any failed attempt at writing a batch (a cancelled insert can stop there too),
before it writes the batch's position.
"""

from __future__ import annotations

import logging
from datetime import date

from .base import Result
from .client import Warehouse
from .migrations import SQL_DIR, statement

log = logging.getLogger(__name__)

REPAIR_DIR = SQL_DIR / "repair"
VIEW_TABLES = ("tier_counts_daily", "tier_counts_hourly", "venue_scan_days")
TIME_COLUMN = {"tier_counts_daily": "day", "tier_counts_hourly": "hour", "venue_scan_days": "day"}


def days_to_rebuild(warehouse: Warehouse) -> list[date]:
    rows = warehouse.query(statement(REPAIR_DIR / "days_to_rebuild.sql")).rows
    return [date.fromisoformat(row[0]) for row in rows]


def rebuild_day(warehouse: Warehouse, day: date) -> None:
    """Replace one day of the count tables (and of the venues' days) with a recount from
    the raw scans. Only while
    nothing else inserts scans (the embedded sink at start, or with the sinks stopped)."""
    for table in VIEW_TABLES:
        warehouse.command(f"DELETE FROM {table} WHERE toDate({TIME_COLUMN[table]}) = {{day:Date}}", {"day": day})
        warehouse.command(statement(REPAIR_DIR / f"{table}.sql"), {"day": day})


def repair(warehouse: Warehouse) -> list[date]:
    """Rebuild every day whose totals disagree; returns those days."""
    days = days_to_rebuild(warehouse)
    for day in days:
        log.warning("tier counts of %s disagree with the raw scans (an insert was cut short): rebuilding", day)
        rebuild_day(warehouse, day)
    return days


def mismatches(warehouse: Warehouse) -> Result:
    """Every (view, area, period) whose counts differ from a full recount; none when exact."""
    return warehouse.query(statement(SQL_DIR / "queries" / "tier_counts_mismatches.sql"))
