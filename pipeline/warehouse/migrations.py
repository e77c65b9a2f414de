"""`ravao migrate`: apply sql/migrations in order, once each, then the retention.

A migration is one file, ``NNNN_name.sql``, holding one statement. Applied versions are
recorded in ``schema_migrations``; every statement is also written to be harmless when
repeated (IF NOT EXISTS), so a crash between applying and recording is safe, and running
`migrate` twice changes nothing. A migration is never edited once released: a change is a
new file.

Retention: the CREATE statements carry a 30-day TTL; `apply_retention` then sets the TTL
of every table in ``sql/retention`` to RAVAO_RETENTION_DAYS with a typed parameter
(``toIntervalDay({days:UInt16})``; ClickHouse binds it into the stored TTL expression), and
only when the value differs from the one recorded in ``warehouse_settings``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..package_data import package_path
from .base import WarehouseError
from .client import Warehouse

log = logging.getLogger(__name__)

SQL_DIR = package_path("sql")  # the sql/ folder, as package data
MIGRATIONS_DIR = SQL_DIR / "migrations"
RETENTION_DIR = SQL_DIR / "retention"
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def statement(path: Path) -> str:
    """The one statement of a SQL file, without a trailing semicolon."""
    text = path.read_text(encoding="utf-8").strip()
    return text[:-1].rstrip() if text.endswith(";") else text


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return statement(self.path)


def migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if not match:
            raise WarehouseError(f"{path}: a migration is named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise WarehouseError(f"{path}: version {version} is taken by {found[version].path.name}")
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def applied_versions(warehouse: Warehouse) -> set[int]:
    return {row[0] for row in warehouse.query("SELECT DISTINCT version FROM schema_migrations").rows}


def migrate(warehouse: Warehouse, retention_days: int) -> list[str]:
    """Apply what is missing; returns the names of the migrations applied now."""
    every = migrations()
    warehouse.command(every[0].sql)  # the table that records the others
    done = applied_versions(warehouse)
    applied = []
    for migration in every:
        if migration.version in done:
            continue
        log.info("applying migration %04d_%s", migration.version, migration.name)
        warehouse.command(migration.sql)
        warehouse.insert("schema_migrations", ["version", "name", "applied_at"],
                         [(migration.version, migration.name, datetime.now(timezone.utc))])
        applied.append(f"{migration.version:04d}_{migration.name}")
    apply_retention(warehouse, retention_days)
    return applied


def retention_tables() -> list[Path]:
    return sorted(RETENTION_DIR.glob("*.sql"))


def applied_retention(warehouse: Warehouse) -> int | None:
    value = warehouse.query(
        "SELECT argMax(value, applied_at) FROM warehouse_settings WHERE name = 'retention_days' HAVING count() > 0"
    ).scalar()
    return int(value) if value else None


def apply_retention(warehouse: Warehouse, days: int) -> bool:
    """Set every TTL to ``days``; returns False when it already was."""
    if applied_retention(warehouse) == days:
        return False
    for path in retention_tables():
        warehouse.command(statement(path), {"days": days})
    warehouse.insert("warehouse_settings", ["name", "value", "applied_at"],
                     [("retention_days", str(days), datetime.now(timezone.utc))])
    log.info("retention set to %d days on %d tables", days, len(retention_tables()))
    return True
