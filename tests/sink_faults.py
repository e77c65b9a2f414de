"""Faults for the sink's writer, injected through its `checkpoint` seam into the real
engine: a table or view that refuses inserts (the engine's own TOO_MANY_PARTS, with
``max_parts_in_total = 1``), inserts cancelled with KILL QUERY from another session of
the same engine, an exception between steps, or the process ending there (``os._exit``),
and a count view missing what its scans part holds (what a kill between the two commits
leaves; "lose").

Run as a script, it is `ravao sink --until-caught-up` (settings from the environment)
that ends itself at the first step named on its command line, or right after a fault
there:

    python tests/sink_faults.py after:scans_incoming exit
    python tests/sink_faults.py before:scans_incoming refuse tier_counts_hourly   # then exit
    python tests/sink_faults.py before:scans_incoming kill                        # then exit

Also the recount: what the warehouse must hold after any of them, from what was published.
"""

from __future__ import annotations

import os
import random
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.sink import writer  # noqa: E402
from pipeline.warehouse import Warehouse, WarehouseError  # noqa: E402

EXIT_CODE = 3


def refuse_inserts(warehouse: Warehouse, table: str, refuse: bool) -> None:
    """The engine refuses every insert into ``table`` (it has at least one part) while on."""
    value = 1 if refuse else 100000
    warehouse.command(f"ALTER TABLE {table} MODIFY SETTING max_parts_in_total = {{n:UInt64}}", {"n": value})


class Killer:
    """KILL QUERY on every insert, from one of the engine's read-only clients, until stopped."""

    def __init__(self, warehouse: Warehouse, delay: float = 0.0) -> None:
        self.warehouse, self.stopping, self.killed, self.delay = warehouse, threading.Event(), 0, delay
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.stopping.wait(self.delay):  # a random delay lands the kill anywhere in the insert
            return
        while not self.stopping.is_set():
            # A reader of those the sink's door serves, past the door (which refuses KILL).
            with self.warehouse.shared_reader() as reader, reader.lock:
                answer = reader.ask("KILL QUERY WHERE query ILIKE 'INSERT%' SYNC", {}, "CSV").strip()
            if answer:
                self.killed += 1

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)


@dataclass
class Fault:
    step: str  # the checkpoint it fires at
    kind: str  # "refuse" (table), "kill", "lose" (table), "raise", "exit"
    table: str = ""
    delay: float = 0.0  # "kill": kills start after up to this many seconds
    then_exit: bool = False  # end the process at the next checkpoint (after the fault did its harm)


@dataclass
class Faults:
    """Fires each planned fault once, at the first time its step comes (in plan order among
    those of one step); undoes it at the next checkpoint (the writer's retry)."""

    warehouse: Warehouse
    plan: list[Fault]
    skip: int = 0  # checkpoints to let pass first (so every table has a part)
    fired: list[str] = field(default_factory=list)
    _undo: object = None
    _exit_next: bool = False
    kills: int = 0

    def __call__(self, step: str) -> None:
        if self._undo is not None:
            undo, self._undo = self._undo, None
            undo()
        if self._exit_next:
            os._exit(EXIT_CODE)
        if self.skip > 0:
            self.skip -= 1
            return
        fault = next((f for f in self.plan if f.step == step), None)
        if fault is None:
            return
        self.plan.remove(fault)
        self.fired.append(f"{fault.kind} {fault.table or ''} at {step}".strip())
        self._exit_next = fault.then_exit
        if fault.kind == "exit":
            os._exit(EXIT_CODE)
        if fault.kind == "lose":
            # What a process killed between the commits of the scans part and a view's part
            # leaves (ClickHouse issues 11909, 104661): the view lacks rows whose scans are
            # stored. A kill landing exactly there cannot be timed from outside.
            self.warehouse.command(f"DELETE FROM {fault.table} WHERE 1")
        if fault.kind in ("raise", "lose"):
            raise writer.BatchIncomplete(f"injected at {step}")
        if fault.kind == "refuse":
            refuse_inserts(self.warehouse, fault.table, True)
            self._undo = lambda: refuse_inserts(self.warehouse, fault.table, False)
        elif fault.kind == "kill":
            killer = Killer(self.warehouse, random.uniform(0, fault.delay))

            def stop() -> None:
                killer.stop()
                self.kills += killer.killed

            self._undo = stop


# --- the recount ------------------------------------------------------------------------------
def slots(t_in: datetime, t_out: datetime) -> set[datetime]:
    """timeSlots(t_in, t_out - t_in, 900), as visit_slots_mv computes them."""
    start, end = int(t_in.timestamp()), int(t_out.timestamp())
    first = start - start % 900
    return {datetime.fromtimestamp(s, timezone.utc) for s in range(first, end + 1, 900)}


def assert_equals_recount(warehouse: Warehouse, day, dead_letters: int = 6) -> None:
    """The warehouse holds what the topics carry: every scan once, the tier counts equal a
    recount from the raw scans, every visit at its latest version in visits and
    visits_by_person, every slot of every latest version in visit_slots (and no slot no
    published version has), the dead letters."""
    from pipeline.warehouse.tier_counts import days_to_rebuild, mismatches

    unique = {str(s.event_id) for s in day.scans}
    assert warehouse.query("SELECT count(), uniqExact(event_id) FROM scans").rows == [[len(unique)] * 2]
    stored = {r[0] for r in warehouse.query("SELECT toString(event_id) FROM scans").rows}
    assert stored == unique
    assert days_to_rebuild(warehouse) == []
    venue_days = "SELECT DISTINCT venue_id, toString(day) FROM ({}) ORDER BY 1, 2"
    assert warehouse.query(venue_days.format("SELECT venue_id, day FROM venue_scan_days")).rows == \
        warehouse.query(venue_days.format("SELECT venue_id, toDate(scanned_at) AS day FROM scans FINAL")).rows
    assert not mismatches(warehouse).rows, mismatches(warehouse).dicts()[:5]
    latest = {k: v.version for k, v in day.latest().items()}
    for table in ("visits", "visits_by_person"):
        got = warehouse.query(f"SELECT toString(visit_id), max(version) FROM {table} GROUP BY visit_id").rows
        assert dict(got) == latest, table
    every: set[tuple[str, int, datetime]] = set()
    wanted: set[tuple[str, int, datetime]] = set()
    for visit in day.records:
        for slot in slots(visit.t_in, visit.t_out):
            every.add((str(visit.visit_id), visit.version, slot))
            if visit.version == latest[str(visit.visit_id)]:
                wanted.add((str(visit.visit_id), visit.version, slot))
    rows = warehouse.query("SELECT DISTINCT toString(visit_id), version, toUnixTimestamp(slot) FROM visit_slots").rows
    held = {(v, n, datetime.fromtimestamp(s, timezone.utc)) for v, n, s in rows}
    assert wanted <= held, f"{len(wanted - held)} slots of latest visit versions missing from visit_slots"
    assert held <= every, f"{len(held - every)} slots in visit_slots that no published version has"
    assert warehouse.query("SELECT count() FROM dead_letters FINAL").scalar() == dead_letters


def main(argv: list[str]) -> int:
    """`ravao sink --until-caught-up` that ends itself at the first ``argv[0]`` step, or
    right after the fault ``argv[1]`` (on the table ``argv[2]``) there."""
    import logging

    from pipeline.settings import Settings
    from pipeline.sink.service import run_sink
    from pipeline.warehouse import opened

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    step, kind, table = argv[0], argv[1], (argv[2] if len(argv) > 2 else "")
    settings = Settings()
    holder: dict[str, Faults] = {}

    def hook(name: str) -> None:
        if "faults" not in holder:
            holder["faults"] = Faults(opened.embedded(), [Fault(step, kind, table, delay=0.05, then_exit=True)])
        holder["faults"](name)

    writer.checkpoint = hook
    run_sink(settings, until_caught_up=True)
    print("the fault's step never came", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except WarehouseError as exc:
        print(f"sink failed: {exc}", file=sys.stderr)
        sys.exit(1)
