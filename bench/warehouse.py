"""`ravao bench warehouse`: the warehouse's three promises, each against a baseline
measured in the same run, on a throwaway embedded warehouse.

1. F1 tracing through the co-presence index (sql/queries/f1_contacts.sql) against a
   naive self-join of the visits table (latest versions, same venue, overlapping times).
   Goal: >= 50x faster, and under 100 ms.
2. Tier counts for a province and its children from the views (sql/queries/tier_counts.sql)
   against a GROUP BY over the raw scans. Goal: >= 100x faster.
3. The sink's rows/s, Kafka to warehouse with every check it makes, against one bulk
   INSERT per table of the very rows it wrote. Goal: >= 50%.

The month of visits is generated inside the engine (INSERT ... SELECT FROM numbers), so
the materialized views build the slot index, the by-person table and the tier counts
exactly as they do for the sink; then the tables are merged (OPTIMIZE ... FINAL), which is
where background merges bring a warehouse in use. The machine may be shared: compare the
ratios, each measured against its baseline in the same run. Usage:

    python -m bench.warehouse --visits 1000000
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.kafka_io import ensure_topics, produce_all, reliable_producer
from bench.broker import bench_broker
from bench.progress import progress
from pipeline.settings import Settings
from pipeline.sink.routes import routes_for
from pipeline.sink.sink import Sink
from pipeline.topics import topics_for
from pipeline.warehouse.client import chdb_url
from pipeline.warehouse.opened import open_url
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.queries import load, run as run_query
from schemas import ValidScan, Visit
from schemas.ids import ALPHABET, ID_BODY_LENGTH, encode_int

COMMUNES, DISTRICTS = 100, 9
SETTLE = ("visits", "visits_by_person", "visit_slots", "scans", "tier_counts_daily", "tier_counts_hourly")



def sql_id(kind: str, number: str) -> str:
    """SQL for `schemas.ids.encode_int` of ``number`` (an SQL expression): ids that pass
    the records' patterns, so generated people can be registered as cases."""
    return (f"concat('{kind}', arrayStringConcat(arrayMap(i -> substring('{ALPHABET}', "
            f"1 + intDiv({number}, toUInt64(pow({len(ALPHABET)}, {ID_BODY_LENGTH - 1} - i))) % {len(ALPHABET)}, 1), "
            f"range({ID_BODY_LENGTH}))))")


def with_ids(sql: str) -> str:
    for kind, marker in (("P", "@PERSON("), ("V", "@VENUE(")):
        while marker in sql:
            head, rest = sql.split(marker, 1)
            number, tail = rest.split(")@", 1)
            sql = head + sql_id(kind, number) + tail
    return sql


GENERATE_VENUES = with_ids("""
INSERT INTO venues (venue_id, name, area_id, area_path, category, default_stay_minutes, max_stay_minutes, active,
                    updated_at, kafka_offset)
SELECT @VENUE(number)@, concat('venue ', toString(number)),
       toString(25700 + number % {communes:UInt32}),
       ['74', toString(700 + (number % {communes:UInt32}) % {districts:UInt32}), toString(25700 + number % {communes:UInt32})],
       'market', 60, 240, true, now64(3), number
FROM numbers({venues:UInt64})
""")

GENERATE_VISITS = with_ids("""
INSERT INTO visits (visit_id, version, person_id, venue_id, area_id, area_path, category, t_in, t_out, entry_how,
                    exit_how, deleted, updated_at)
SELECT
    generateUUIDv4(number) AS visit_id,
    1,
    @PERSON(cityHash64(number, 1) % {persons:UInt64})@,
    @VENUE(v)@,
    toString(25700 + v % {communes:UInt32}),
    ['74', toString(700 + (v % {communes:UInt32}) % {districts:UInt32}), toString(25700 + v % {communes:UInt32})],
    'market',
    {start:DateTime64(3, 'UTC')} + toIntervalSecond(cityHash64(number, 3) % ({days:UInt32} * 86400)) AS t_in,
    t_in + toIntervalSecond(300 + cityHash64(number, 4) % 7200),
    'scan', 'scan', false, t_in
FROM
(
    SELECT number, cityHash64(number, 2) % {venues:UInt64} AS v
    FROM numbers({offset:UInt64}, {count:UInt64})
)
SETTINGS insert_deduplicate = 0
""")

# One visit in twenty revised: a later exit, version 2 (the views get both versions).
REVISE_VISITS = """
INSERT INTO visits
SELECT visit_id, 2, person_id, venue_id, area_id, area_path, category, t_in, t_out + toIntervalSecond(600),
       entry_how, exit_how, entry_event_id, exit_event_id, deleted, updated_at, kafka_partition, kafka_offset
FROM visits
WHERE version = 1 AND cityHash64(visit_id) % 20 = 0
SETTINGS insert_deduplicate = 0
"""

# An entry and an exit scan per visit (first versions).
GENERATE_SCANS = """
INSERT INTO scans (event_id, source, person_id, venue_id, direction, scanned_at, received_at, area_id, area_path,
                   category, default_stay_minutes, max_stay_minutes)
SELECT generateUUIDv4(cityHash64(visit_id, k)), 'station', person_id, venue_id, if(k = 0, 'in', 'out'),
       if(k = 0, t_in, t_out) AS at, at, area_id, area_path, category, 60, 240
FROM visits
ARRAY JOIN [0, 1] AS k
WHERE version = 1 AND toDate(t_in) = {day:Date}
SETTINGS insert_deduplicate = 0
"""

NAIVE_F1 = """
WITH latest AS
(
    SELECT person_id, venue_id, greatest(t_in, {from:DateTime64(3, 'UTC')}) AS t_in,
           least(t_out, {to:DateTime64(3, 'UTC')}) AS t_out
    FROM visits FINAL
    WHERE NOT deleted AND t_in < {to:DateTime64(3, 'UTC')} AND t_out > {from:DateTime64(3, 'UTC')}
)
SELECT b.person_id AS person_id,
       sum(dateDiff('millisecond', greatest(a.t_in, b.t_in), least(a.t_out, b.t_out))) / 1000 AS overlap_seconds
FROM latest AS a
INNER JOIN latest AS b ON a.venue_id = b.venue_id
WHERE a.person_id = {person:String} AND b.person_id != {person:String}
  AND greatest(a.t_in, b.t_in) < least(a.t_out, b.t_out)
GROUP BY person_id
HAVING overlap_seconds >= {min_overlap_seconds:UInt32}
ORDER BY overlap_seconds DESC, person_id
"""

RAW_TIER_COUNTS = """
SELECT area_path[i] AS area_id, uniqExact(venue_id) AS venues_scanned, count() AS scans,
       countIf(direction = 'in') AS entries, countIf(direction = 'out') AS exits, uniqCombined(14)(person_id) AS people
FROM scans
ARRAY JOIN arrayEnumerate(area_path) AS i
WHERE (area_path[i] = {area:String} OR (i > 1 AND area_path[i - 1] = {area:String}))
  AND toDate(scanned_at) BETWEEN {from_day:Date} AND {to_day:Date}
GROUP BY area_id
ORDER BY area_id
"""


def timed(function, repeat: int) -> tuple[float, object]:
    """Median seconds over ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


CHUNK = 500_000  # visits per INSERT ... SELECT FROM numbers


def generation_steps(visits: int, days: int) -> int:
    """How many times `generate` calls its ``step`` (for a progress bar)."""
    return 1 + -(-visits // CHUNK) + 1 + (days + 1) + len(SETTLE)


def generate(warehouse, visits: int, days: int, end: datetime, step=lambda what: None) -> dict:
    """A month of a province, in the engine; ``step(what)`` after each statement."""
    persons = max(100, int(visits / (days * 1.6)))
    venues = max(50, visits // 2000)
    start = end - timedelta(days=days)
    shape = {"communes": COMMUNES, "districts": DISTRICTS, "venues": venues, "persons": persons,
             "start": start, "days": days}
    warehouse.command(GENERATE_VENUES, {k: shape[k] for k in ("communes", "districts", "venues")})
    step("venues")
    for offset in range(0, visits, CHUNK):
        warehouse.command(GENERATE_VISITS, {**shape, "offset": offset, "count": min(CHUNK, visits - offset)})
        step("visits")
    warehouse.command(REVISE_VISITS)
    step("revised visits")
    for day in range(days + 1):
        warehouse.command(GENERATE_SCANS, {"day": (start + timedelta(days=day)).date()})
        step("scans")
    # What background merges reach on a warehouse in use: one part per partition.
    for table in SETTLE:
        warehouse.command(f"OPTIMIZE TABLE {table} FINAL")
        step(f"merging {table}")
    return shape


def generated_month(warehouse, visits: int, days: int, end: datetime, bar, extra_steps: int = 0):
    """The migrations and `generate`, as one task of the progress ``bar``: (the figures with
    the generation's seconds, a ``step(what)`` for the caller's ``extra_steps``)."""
    task = bar.add_task(f"generating {visits:,} visits", total=1 + generation_steps(visits, days) + extra_steps)

    def step(what: str) -> None:
        bar.update(task, advance=1, description=f"generating {visits:,} visits: {what}")

    migrate(warehouse, 60)
    step("migrations")
    started = time.perf_counter()
    shape = generate(warehouse, visits, days, end, step=step)
    return {**shape, "generate_s": time.perf_counter() - started}, step


def bench_f1(warehouse, end: datetime, cases: int, naive_cases: int, bar) -> dict:
    start = end - timedelta(days=14)
    people = [r[0] for r in warehouse.query(
        "SELECT person_id FROM visits_by_person WHERE t_in >= {from:DateTime64(3, 'UTC')} GROUP BY person_id "
        "ORDER BY cityHash64(person_id) LIMIT {n:UInt32}", {"from": start, "n": cases}).rows]
    query = load("f1_contacts")

    def params(person: str) -> dict:
        return {"person": person, "from": start, "to": end, "min_overlap_seconds": 900}

    task = bar.add_task("F1 traces: through the index, then the naive self-join",
                        total=1 + len(people) + min(naive_cases, len(people)))
    run_query(warehouse, query, params(people[0]))  # warm up
    bar.advance(task)
    index_times, contacts = [], []
    for person in people:
        seconds, result = timed(lambda: run_query(warehouse, query, params(person)), 1)
        index_times.append(seconds)
        contacts.append(len(result.rows))
        bar.advance(task)
    naive_times = []
    for person in people[:naive_cases]:
        seconds, naive = timed(lambda: warehouse.query(NAIVE_F1, params(person)), 1)
        naive_times.append(seconds)
        indexed = run_query(warehouse, query, params(person))
        same = [[r[0], r[1]] for r in indexed.rows] == naive.rows
        assert same, f"the naive self-join and the index disagree for {person}"
        bar.advance(task)
    return {"f1_ms": statistics.median(index_times) * 1000, "f1_p90_ms": sorted(index_times)[int(0.9 * len(index_times))] * 1000,
            "naive_ms": statistics.median(naive_times) * 1000, "contacts": statistics.median(contacts)}


def bench_tiers(warehouse, end: datetime, days: int, bar) -> dict:
    params = {"area": "74", "from_day": (end - timedelta(days=days)).date(), "to_day": end.date()}
    query = load("tier_counts")
    task = bar.add_task("tier counts: the views, then GROUP BY over the raw scans", total=3)
    run_query(warehouse, query, params)
    bar.advance(task)
    views, counted = timed(lambda: run_query(warehouse, query, params), 10)
    bar.advance(task)
    raw, recount = timed(lambda: warehouse.query(RAW_TIER_COUNTS, params), 3)
    bar.advance(task)
    by_area = {r["area_id"]: (r["scans"], r["entries"], r["exits"]) for r in counted.dicts()}
    assert by_area == {r["area_id"]: (r["scans"], r["entries"], r["exits"]) for r in recount.dicts()}, \
        "the views and the raw recount disagree"
    return {"views_ms": views * 1000, "raw_ms": raw * 1000, "areas": len(by_area)}


def sink_messages(topics, rows: int, end: datetime) -> dict[str, list[tuple[bytes, bytes]]]:
    """Valid scans and visits as the worker publishes them (two scans per visit)."""
    out: dict[str, list] = {topics.scans_valid.name: [], topics.visits.name: []}
    for n in range(rows // 3):
        person, venue = "P" + encode_int(n % 5000, 14), "V" + encode_int(n % 300, 14)
        t_in = end - timedelta(hours=30, seconds=n)
        t_out = t_in + timedelta(minutes=45)
        place = {"venue_id": venue, "area_id": f"{25741 + n % 7}", "area_path": ("74", "718", f"{25741 + n % 7}"),
                 "category": "market"}
        for direction, at in (("in", t_in), ("out", t_out)):
            scan = ValidScan(event_id=uuid.uuid4(), source="station", person_id=person, direction=direction,
                             scanned_at=at, received_at=at, default_stay_minutes=60, max_stay_minutes=240, **place)
            out[topics.scans_valid.name].append((person.encode(), scan.to_bytes()))
        visit = Visit(visit_id=uuid.uuid4(), version=1, person_id=person, t_in=t_in, t_out=t_out, entry_how="scan",
                      exit_how="scan", updated_at=t_out, **place)
        out[topics.visits.name].append((person.encode(), visit.to_bytes()))
    return out


class TimedSink(Sink):
    """The sink, noting when it got its partitions (the group join is not throughput)."""

    assigned_at: float | None = None

    def _on_assign(self, consumer, partitions) -> None:
        super()._on_assign(consumer, partitions)
        self.assigned_at = self.assigned_at or time.perf_counter()


def bench_sink(warehouse, bootstrap: str, data_dir: Path, rows: int, end: datetime, bar, rounds: int = 3) -> dict:
    """Rounds of: one bulk INSERT per table of freshly generated rows, then the sink on as
    many fresh messages (Kafka -> batches -> the same tables). Fresh ids each time, so
    both do the same work (nothing is dropped as already stored); medians, because the
    machine is shared."""
    sink_rates, bulk_rates, written = [], [], 0
    task = bar.add_task(f"sink: rounds of {rows:,} rows, bulk INSERT then the sink", total=rounds)
    for _ in range(rounds):
        settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=f"benchwh{uuid.uuid4().hex[:6]}.",
                            data_dir=data_dir, clickhouse_url=None)
        topics = topics_for(settings)
        routes = routes_for(topics)
        # The baseline: rows encoded as the sink encodes them, one INSERT per table.
        lines: dict[str, list[bytes]] = {}
        for topic, batch in sink_messages(topics, rows, end).items():
            for offset, (key, value) in enumerate(batch):
                row = routes[topic].row(key, value, 0, offset)
                lines.setdefault(row.table, []).append(row.line)
        started = time.perf_counter()
        for table, table_lines in lines.items():
            warehouse.insert_json(table, b"\n".join(table_lines), token=f"bench:{uuid.uuid4()}")
        bulk_rates.append(sum(len(v) for v in lines.values()) / (time.perf_counter() - started))
        ensure_topics(bootstrap, topics.all())
        producer = reliable_producer(bootstrap)
        for topic, batch in sink_messages(topics, rows, end).items():
            produce_all(producer, topic, batch)
        sink = TimedSink(settings, warehouse, bootstrap, until_caught_up=True)
        sink.run()
        written = sum(sink.totals.values())
        sink_rates.append(written / (time.perf_counter() - sink.assigned_at))
        bar.advance(task)
    return {"sink_rows_s": statistics.median(sink_rates), "bulk_rows_s": statistics.median(bulk_rates),
            "sink_rows": written}


def run(visits: int = 10_000_000, days: int = 30, cases: int = 20, naive_cases: int = 3, sink_rows: int = 300_000,
        directory: Path | None = None) -> dict:
    logging.getLogger("pipeline.warehouse.migrations").setLevel(logging.WARNING)  # a line each breaks the bar
    base = Settings()
    bootstrap, broker = bench_broker(base)
    data_dir = directory or Path(tempfile.mkdtemp(prefix="ravao-bench-warehouse-"))
    end = datetime.now(timezone.utc).replace(microsecond=0, second=0, minute=0)
    warehouse = open_url(chdb_url(data_dir / "warehouse"))
    figures: dict = {"visits": visits}
    try:
        with progress() as bar:
            figures.update(generated_month(warehouse, visits, days, end, bar)[0])
            figures["slot_rows"] = warehouse.query("SELECT count() FROM visit_slots").scalar()
            figures["scan_rows"] = warehouse.query("SELECT count() FROM scans").scalar()
            figures.update(bench_f1(warehouse, end, cases, naive_cases, bar))
            figures.update(bench_tiers(warehouse, end, days, bar))
            figures.update(bench_sink(warehouse, bootstrap, data_dir, sink_rows, end, bar))
    finally:
        warehouse.close()
        if broker is not None:
            broker.stop()
        if directory is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    report(figures)
    return figures


def report(f: dict) -> None:
    table = Table("measure", "ravao", "baseline (same run)", "ratio", "goal", title=(
        f"warehouse: {f['visits']:,} visits ({f['slot_rows']:,} slot rows, {f['scan_rows']:,} scans), "
        f"{f['venues']:,} venues, {f['persons']:,} people; generated in {f['generate_s']:.0f} s"))
    table.add_row(f"F1 trace, 14 days, median of cases ({f['contacts']:.0f} contacts)",
                  f"{f['f1_ms']:.1f} ms (p90 {f['f1_p90_ms']:.1f} ms)", f"naive self-join {f['naive_ms']:.0f} ms",
                  f"{f['naive_ms'] / f['f1_ms']:.0f}x", ">= 50x, < 100 ms")
    table.add_row(f"tier counts, province + {f['areas'] - 1} children, {30} days", f"{f['views_ms']:.1f} ms",
                  f"GROUP BY raw scans {f['raw_ms']:.0f} ms", f"{f['raw_ms'] / f['views_ms']:.0f}x", ">= 100x")
    table.add_row(f"sink, Kafka -> warehouse ({f['sink_rows']:,} rows)", f"{f['sink_rows_s']:,.0f} rows/s",
                  f"bulk INSERT {f['bulk_rows_s']:,.0f} rows/s", f"{f['sink_rows_s'] / f['bulk_rows_s']:.0%}", ">= 50%")
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="ravao bench warehouse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=10_000_000, help="visits to generate (a month of a province)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--cases", type=int, default=20, help="F1 traces timed through the index")
    parser.add_argument("--naive-cases", type=int, default=3, help="F1 traces timed with the naive self-join")
    parser.add_argument("--sink-rows", type=int, default=300_000, help="messages for the sink measurement")
    parser.add_argument("--dir", type=Path, default=None, help="warehouse folder (default: a temporary one)")
    args = parser.parse_args(argv)
    return run(args.visits, args.days, args.cases, args.naive_cases, args.sink_rows, args.dir)


if __name__ == "__main__":
    main()
