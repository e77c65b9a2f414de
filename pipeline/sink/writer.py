"""Writing one batch: rows first, then the position, so a crash at any point re-reads
rather than loses, and re-reading changes nothing (sql/README.md, "Exact counts").

1. One INSERT per table, with a deduplication token derived from the batch's source
   ranges (the same ranges read again give the same token). Keyed tables
   (ReplacingMergeTree) hold a row written twice as one row to every query anyway.
2. Scans go to ``scans_incoming``: its view keeps the first of each event id and drops
   the ids ``scans`` already holds, inside the engine, so the count views fed by
   ``scans`` see every event once.
3. The position (next offset per topic partition) goes to ``sink_positions``.

If the engine refuses a table's rows (a message that is not what its topic carries), the
rows are checked one by one against their record model; those that fail become
dead-letter rows, the rest are inserted. Nothing is dropped and nothing blocks the sink.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from ..warehouse import Warehouse, WarehouseError, WarehouseUnavailable
from .batch import Batch, Entry
from .routes import Route

log = logging.getLogger(__name__)


@dataclass
class Written:
    rows: dict[str, int]  # per table, as sent (scans before the engine drops repeated event ids)
    refused: int  # messages that were not valid records (now dead letters)


def _insert(warehouse: Warehouse, table: str, entries: list[Entry], token: str, routes: dict[str, Route],
            refused: list[Entry]) -> int:
    """Insert one table's rows; if the engine refuses them, check each against its model
    and insert those that pass (the others go to ``refused``). Returns the rows inserted."""
    try:
        warehouse.insert_json(table, b"\n".join(entry[2] for entry in entries), token=token)
        return len(entries)
    except WarehouseUnavailable:
        raise
    except WarehouseError as exc:
        good: list[Entry] = []
        for source, offset, line, value in entries:
            if value is None:
                good.append((source, offset, line, value))
                continue
            checked = routes[source[0]].checked_row(value, source[1], offset)
            (good if checked.table == table else refused).append((source, offset, checked.line, value))
        if len(good) == len(entries):
            raise WarehouseError(f"{table} refused rows that pass their record model: {exc}") from None
        log.warning("%d message(s) for %s are not valid records: kept as dead letters", len(entries) - len(good),
                    table)
        if good:
            warehouse.insert_json(table, b"\n".join(entry[2] for entry in good), token=token + ":checked")
        return len(good)


def write_batch(warehouse: Warehouse, batch: Batch, routes: dict[str, Route]) -> Written:
    identity = batch.identity()
    rows: dict[str, int] = {}
    refused: list[Entry] = []
    for table, entries in batch.rows.items():
        if entries:
            rows[table] = _insert(warehouse, table, entries, f"{table}:{identity}", routes, refused)
    if refused:
        warehouse.insert_json("dead_letters", b"\n".join(entry[2] for entry in refused),
                              token=f"dead_letters:refused:{identity}")
        rows["dead_letters"] = rows.get("dead_letters", 0) + len(refused)
    now = datetime.now(timezone.utc)
    warehouse.insert("sink_positions", ["topic", "partition", "next_offset", "updated_at"],
                     [(topic, partition, offset, now) for (topic, partition), offset in sorted(batch.next.items())])
    return Written(rows, len(refused))


def stored_positions(warehouse: Warehouse, topics: list[str]) -> dict[tuple[str, int], int]:
    result = warehouse.query(
        "SELECT topic, partition, max(next_offset) FROM sink_positions "
        "WHERE topic IN {topics:Array(String)} GROUP BY topic, partition",
        {"topics": topics},
    )
    return {(topic, partition): offset for topic, partition, offset in result.rows}
