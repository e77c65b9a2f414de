"""Writing one batch: rows first, then the position, so a crash at any point re-reads
rather than loses, and re-reading changes nothing (sql/README.md, "Exact counts").

1. One INSERT per table, with a deduplication token derived from the batch's source
   ranges (the same ranges read again give the same token). Keyed tables
   (ReplacingMergeTree) hold a row written twice as one row to every query anyway.
2. Scans go to ``scans_incoming``: its view keeps the first of each event id and drops
   the ids ``scans`` already holds, inside the engine, so the count views fed by
   ``scans`` see every event once.
3. After an attempt of this batch failed part-way, the tier counts are checked against
   the raw scans and the days that disagree rebuilt (embedded engine), before the
   position: an INSERT commits the table's part and each view's part one after the other,
   so a failed one may have left ``scans`` holding rows its count views never got, and
   the view on ``scans_incoming`` then keeps the batch written again from adding them.
4. The position (next offset per topic partition) goes to ``sink_positions``.

Failures. An engine error that is about the rows (a value the table cannot hold) sends
the rows that are not valid records to dead letters; if all of them are valid records,
the batch is split in halves until the rows the engine refuses alone are found, and
those become dead letters (with the engine's error code), the rest is inserted. Any other
error (the insert cancelled, too many parts, out of memory, ...) is `BatchIncomplete`:
the caller writes the same batch again, with the same tokens, and step 3 runs. When
that keeps failing (``isolate``), the halving looks for a record that makes the engine
fail (a valid visit lasting decades makes its view write one part per day: more than one
insert may create): a record is blamed only when the engine takes the other half.

`checkpoint` is called between the steps ("before:TABLE", "after:TABLE", "repair",
"before:sink_positions", "after:sink_positions"); tests replace it to raise, cancel or
end the process there.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from ..warehouse import Warehouse, WarehouseError, WarehouseUnavailable
from ..warehouse.base import check_identifier
from ..warehouse.tier_counts import days_to_rebuild, repair
from .batch import Batch, Entry
from .routes import Route, refused_row

log = logging.getLogger(__name__)

# ClickHouse error codes that mean "these rows do not fit the table" (a parse or type
# error, a CHECK constraint): retrying cannot help, the rows go to dead letters. Every
# other code is about the engine, not the rows, and the batch is written again. (The
# engine is lenient: out-of-range dates saturate and integers wrap rather than fail.)
DATA_ERRORS = frozenset({
    6, 26, 27, 32, 33, 38, 41, 53, 62, 69, 70, 72, 117, 130, 131, 190, 321, 349, 376, 407, 441, 467, 469, 691,
})
QUERY_WAS_CANCELLED = 394
STORED_IN = {"scans_incoming": "scans", "accounts_incoming": "accounts"}  # the table that keeps what the sink inserts into a Null table
CODE = re.compile(r"Code: (\d+)\.")


def checkpoint(step: str) -> None:
    """Called between the steps of a batch; tests replace it to inject faults."""


class BatchIncomplete(WarehouseError):
    """A step of the batch failed for a reason that is not its rows (the insert cancelled,
    the engine out of memory or of parts, ...): some tables or views may hold the batch,
    others not. Write the same batch again; nothing may be skipped."""


@dataclass
class Written:
    rows: dict[str, int]  # per table, as sent (scans before the engine drops repeated event ids)
    refused: int  # messages that were not valid records (now dead letters)
    rebuilt: list  # days whose tier counts were rebuilt after a failed attempt


def _code(exc: WarehouseError) -> int | None:
    match = CODE.search(str(exc))
    return int(match.group(1)) if match else None


def is_data_error(exc: WarehouseError) -> bool:
    return _code(exc) in DATA_ERRORS


def is_cancelled(exc: WarehouseError) -> bool:
    """KILL QUERY (or a cancelled client): never a row's fault."""
    return _code(exc) == QUERY_WAS_CANCELLED


def _send(warehouse: Warehouse, table: str, entries: list[Entry], token: str) -> None:
    checkpoint(f"before:{table}")
    warehouse.insert_json(table, b"\n".join(entry[2] for entry in entries), token=token)
    checkpoint(f"after:{table}")


def _isolate(warehouse: Warehouse, table: str, entries: list[Entry], token: str, routes: dict[str, Route],
             refused: list[Entry], error: WarehouseError, *, persistent: bool = False) -> int:
    """Valid records the engine still refuses: halve until the rows it refuses alone are
    found (dead letters); insert the rest. Returns the rows inserted.

    ``persistent``: the error is not about values (its code is not a data error) but it
    came back on every attempt. A row is blamed only when the engine takes its sibling
    half: when it refuses both halves the engine is at fault, not a row, and the batch is
    written again later."""
    if len(entries) == 1:
        (source, offset, _, value, index), = entries
        log.warning("the warehouse refuses a valid %s record (%s, offset %d) %s: kept as a dead letter with the "
                    "engine's error code", table, f"{source[0]}[{source[1]}]", offset,
                    "on every attempt, and only it" if persistent else "for a reason about its values")
        row = refused_row(routes[source[0]], value or b"", source[1], offset, str(error), index)
        refused.append((source, offset, row.line, value, index))
        if persistent and index is None:  # an envelope's records share its offset: the others are good
            _forget(warehouse, table, source[1], offset)
        return 0
    half = len(entries) // 2
    inserted = 0
    failed: list[tuple[list[Entry], str, WarehouseError]] = []
    for part, name in ((entries[:half], "a"), (entries[half:], "b")):
        try:
            _send(warehouse, table, part, f"{token}{name}")
            inserted += len(part)
        except WarehouseUnavailable:
            raise
        except WarehouseError as exc:
            if is_data_error(exc):
                inserted += _isolate(warehouse, table, part, f"{token}{name}", routes, refused, exc)
            elif persistent and not is_cancelled(exc):
                failed.append((part, name, exc))
            else:
                raise BatchIncomplete(f"insert into {table} failed: {exc}") from None
    if len(failed) == 2:
        raise BatchIncomplete(f"the engine refuses both halves of the {table} rows, so not one row's fault: "
                              f"{failed[0][2]}")
    for part, name, exc in failed:
        inserted += _isolate(warehouse, table, part, f"{token}{name}", routes, refused, exc, persistent=True)
    return inserted


def _forget(warehouse: Warehouse, table: str, partition: int, offset: int) -> None:
    """Remove what the failed inserts of a dead-lettered record left in its table: an
    error in a view of ``visits`` comes after the visits part was committed (measured).
    Its views did not get it (the error was theirs), so the record is a dead letter only."""
    if table == "dead_letters":
        return  # rows from several topics share partition and offset numbers there
    warehouse.command(f"DELETE FROM {check_identifier(STORED_IN.get(table, table))} "
                      "WHERE kafka_partition = {partition:UInt16} AND kafka_offset = {offset:UInt64}",
                      {"partition": partition, "offset": offset})


def _insert(warehouse: Warehouse, table: str, entries: list[Entry], token: str, routes: dict[str, Route],
            refused: list[Entry], isolate: bool = False) -> int:
    """Insert one table's rows; if the engine refuses them for their values, check each
    against its model and insert those that pass (the others go to ``refused``). Returns
    the rows inserted. ``isolate``: this batch failed on every recent attempt; look for
    the rows that make it fail (`_isolate`)."""
    try:
        _send(warehouse, table, entries, token)
        return len(entries)
    except WarehouseUnavailable:
        raise
    except WarehouseError as exc:
        if not is_data_error(exc):
            if isolate and len(entries) > 1 and not is_cancelled(exc):
                return _isolate(warehouse, table, entries, token + ":isolating:", routes, refused, exc,
                                persistent=True)
            raise BatchIncomplete(str(exc)) from None
        good: list[Entry] = []
        for source, offset, line, value, index in entries:
            if value is None:
                good.append((source, offset, line, value, index))
                continue
            checked = routes[source[0]].checked_row(value, source[1], offset, index)
            (good if checked.table == table else refused).append((source, offset, checked.line, value, index))
        if len(good) == len(entries):
            return _isolate(warehouse, table, entries, token + ":isolating:", routes, refused, exc)
        log.warning("%d message(s) for %s are not valid records: kept as dead letters", len(entries) - len(good),
                    table)
        if not good:
            return 0
        return _insert(warehouse, table, good, token + ":checked", routes, refused, isolate)


def _reconcile(warehouse: Warehouse) -> list:
    """After a failed attempt: the tier counts equal a recount from the raw scans again.
    Only the embedded engine (this process is its only writer) rebuilds; with a server,
    other sinks may be inserting, so a disagreement is reported for `ravao warehouse
    check --repair`."""
    checkpoint("repair")
    if warehouse.exclusive:
        rebuilt = repair(warehouse)
        if rebuilt:
            log.warning("rebuilt the tier counts of %s from the raw scans after the failed attempt",
                        ", ".join(map(str, rebuilt)))
        return rebuilt
    off = days_to_rebuild(warehouse)
    if off:
        log.error("tier counts of %s disagree with the raw scans after a failed insert; stop every sink and run "
                  "`ravao warehouse check --repair`", ", ".join(map(str, off)))
    return []


def write_batch(warehouse: Warehouse, batch: Batch, routes: dict[str, Route], *,
                after_failure: bool = False, isolate: bool = False) -> Written:
    """Write the batch, then its position. ``after_failure``: an earlier attempt of this
    batch failed part-way (step 3 of the module's docstring). ``isolate``: the recent
    attempts all failed; look for rows that make the engine fail (see `_isolate`)."""
    identity = batch.identity()
    rows: dict[str, int] = {}
    refused: list[Entry] = []
    try:
        for table, entries in batch.rows.items():
            if entries:
                rows[table] = _insert(warehouse, table, entries, f"{table}:{identity}", routes, refused, isolate)
        if refused:
            _send(warehouse, "dead_letters", refused, f"dead_letters:refused:{identity}")
            rows["dead_letters"] = rows.get("dead_letters", 0) + len(refused)
        rebuilt = _reconcile(warehouse) if after_failure else []
        now = datetime.now(timezone.utc)
        checkpoint("before:sink_positions")
        warehouse.insert("sink_positions", ["topic", "partition", "next_offset", "updated_at"],
                         [(topic, partition, offset, now) for (topic, partition), offset in sorted(batch.next.items())])
        checkpoint("after:sink_positions")
    except (WarehouseUnavailable, BatchIncomplete):
        raise
    except WarehouseError as exc:  # the dead letters, the repair or the position
        raise BatchIncomplete(str(exc)) from None
    return Written(rows, len(refused), rebuilt)


def stored_positions(warehouse: Warehouse, topics: list[str]) -> dict[tuple[str, int], int]:
    result = warehouse.query(
        "SELECT topic, partition, max(next_offset) FROM sink_positions "
        "WHERE topic IN {topics:Array(String)} GROUP BY topic, partition",
        {"topics": topics},
    )
    return {(topic, partition): offset for topic, partition, offset in result.rows}
