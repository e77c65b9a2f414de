"""Whatever step of a batch fails, and however (the engine refusing the main table, a
view or the position; the insert cancelled with KILL QUERY; the process ending between
steps), the position never passes rows that are not in all their tables and views: a
retry or a restart leaves the warehouse equal to a recount from the topics."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from pipeline.settings import Settings
from pipeline.sink import sink as sink_module
from pipeline.sink import writer
from pipeline.sink.sink import Sink
from pipeline.topics import Topics
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.migrations import migrate
from sink_faults import EXIT_CODE, Fault, Faults, Killer, assert_equals_recount
from test_sink_replay import sink_env
from warehouse_day import generate_day, publish_day

pytestmark = pytest.mark.kafka

SMALL_BATCHES = {"sink_batch_rows": 250, "sink_batch_seconds": 0.2, "sink_retry_max_seconds": 0.2}


def test_inserts_killed_from_another_session_are_written_again_not_skipped(settings: Settings, topics: Topics) -> None:
    """What the SQL endpoint's KILL QUERY did: chdb's streaming insert reported a killed
    insert as written, the position moved past it, and its scans were lost for good."""
    day = generate_day(persons=150, seed=11)
    publish_day(settings.kafka_bootstrap, topics, day)
    quick = settings.model_copy(update=SMALL_BATCHES)
    with open_warehouse(quick) as warehouse:
        migrate(warehouse, quick.retention_days)
        killer = Killer(warehouse)
        stop = threading.Timer(4.0, killer.stop)
        stop.start()
        try:
            Sink(quick, warehouse, settings.kafka_bootstrap, until_caught_up=True).run()
        finally:
            stop.cancel()
            killer.stop()
        assert killer.killed > 0, "no insert was killed: the test proves nothing"
        assert_equals_recount(warehouse, day)


def test_a_fault_at_every_step_of_a_batch_is_retried_until_the_warehouse_equals_a_recount(
        settings: Settings, topics: Topics, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    day = generate_day(persons=200, seed=12)
    quick = settings.model_copy(update=SMALL_BATCHES)
    plan = [
        Fault("before:scans_incoming", "refuse", "scans"),
        Fault("before:scans_incoming", "refuse", "tier_counts_daily"),
        Fault("before:scans_incoming", "refuse", "tier_counts_hourly"),
        Fault("before:scans_incoming", "refuse", "venue_scan_days"),
        Fault("before:visits", "refuse", "visits"),
        Fault("before:visits", "refuse", "visit_slots"),
        Fault("before:visits", "refuse", "visits_by_person"),
        Fault("before:sink_positions", "refuse", "sink_positions"),
        Fault("after:scans_incoming", "raise"),
        Fault("after:scans_incoming", "lose", "tier_counts_hourly"),
        Fault("repair", "raise"),
        Fault("after:visits", "raise"),
        Fault("before:scans_incoming", "kill"),
        Fault("before:visits", "kill"),
        Fault("before:sink_positions", "kill"),
    ]
    caplog.set_level(logging.INFO, logger="pipeline.sink")
    with open_warehouse(quick) as warehouse:
        migrate(warehouse, quick.retention_days)
        faults = Faults(warehouse, plan, skip=12)  # the first batches give every table a part
        monkeypatch.setattr(writer, "checkpoint", faults)
        monkeypatch.setattr(sink_module, "POLL_MESSAGES", 100)  # many batches
        rounds = 6  # each round's batches carry scans and visits
        scan_step, visit_step = -(-len(day.scans) // rounds), -(-len(day.records) // rounds)
        for i in range(rounds):
            publish_day(settings.kafka_bootstrap, topics, day, registry=i == 0, extras=i == rounds - 1,
                        scans=slice(i * scan_step, (i + 1) * scan_step),
                        visits=slice(i * visit_step, (i + 1) * visit_step))
            Sink(quick, warehouse, settings.kafka_bootstrap, until_caught_up=True).run()
        assert not faults.plan, f"faults that never fired: {faults.plan}"
        assert_equals_recount(warehouse, day)
    messages = [r.getMessage() for r in caplog.records]
    # Each refusal fails an attempt and says so; a KILL may land after its insert finished
    # (then nothing failed), so kills are not counted here: the recount above is the proof.
    refusals = sum(fault.kind == "refuse" for fault in plan)
    failed = sum("failed part-way" in m for m in messages)
    assert failed >= refusals, f"{failed} failed attempts logged, {refusals} refusals planned"
    assert any("rebuilt the tier counts" in m and "after the failed attempt" in m for m in messages)


def run_faulty_sink(env: dict[str, str], log: Path, *args: str) -> int:
    with open(log, "ab") as out:
        return subprocess.run([sys.executable, str(ROOT / "tests" / "sink_faults.py"), *args], env=env, cwd=ROOT,
                              stdout=out, stderr=subprocess.STDOUT, timeout=180).returncode


def half_a_day_written(settings: Settings, topics: Topics, seed: int):
    """Half the day written by a sink (every table has a part: a view can refuse), the other
    half published and not yet read."""
    day = generate_day(persons=120, seed=seed)
    half = len(day.scans) // 2, len(day.records) // 2
    publish_day(settings.kafka_bootstrap, topics, day, scans=slice(0, half[0]), visits=slice(0, half[1]),
                extras=False)
    run_cli("sink", "--until-caught-up", env=sink_env(settings))
    publish_day(settings.kafka_bootstrap, topics, day, registry=False, scans=slice(half[0], None),
                visits=slice(half[1], None))
    return day


@pytest.mark.parametrize("fault", [
    "after:scans_incoming exit",
    "before:scans_incoming refuse scans",
    "before:scans_incoming refuse tier_counts_daily",
    "before:scans_incoming refuse tier_counts_hourly",
    "before:visits refuse visit_slots",
    "before:visits refuse visits_by_person",
    "before:sink_positions exit",
    "before:sink_positions refuse sink_positions",
    "after:sink_positions exit",
])
def test_a_sink_ended_between_steps_restarts_to_a_recount(settings: Settings, topics: Topics, tmp_path: Path,
                                                          fault: str) -> None:
    day = half_a_day_written(settings, topics, seed=13)
    log = tmp_path / "faulty.log"
    assert run_faulty_sink(sink_env(settings), log, *fault.split()) == EXIT_CODE, log.read_text()[-3000:]
    run_cli("sink", "--until-caught-up", env=sink_env(settings))
    with open_warehouse(settings) as warehouse:
        assert_equals_recount(warehouse, day)


def test_a_sink_ended_after_cancelled_inserts_restarts_to_a_recount(settings: Settings, topics: Topics,
                                                                    tmp_path: Path) -> None:
    """KILL QUERY landing at a random point of each INSERT, the process ending right after."""
    day = half_a_day_written(settings, topics, seed=14)
    env = sink_env(settings, RAVAO_SINK_BATCH_ROWS="5000")
    log = tmp_path / "faulty.log"
    for attempt in range(3):
        more = generate_day(persons=300, seed=100 + attempt)
        publish_day(settings.kafka_bootstrap, topics, more, registry=False, visits=slice(0, 0), extras=False)
        day.scans += more.scans
        assert run_faulty_sink(env, log, "before:scans_incoming", "kill") == EXIT_CODE, log.read_text()[-3000:]
    assert "Query was cancelled" in log.read_text()
    run_cli("sink", "--until-caught-up", env=env)
    with open_warehouse(settings) as warehouse:
        assert_equals_recount(warehouse, day)


@pytest.mark.parametrize("view", ["tier_counts_daily", "tier_counts_hourly", "venue_scan_days"])
def test_a_sink_ended_with_scans_its_count_views_lack_rebuilds_them_at_restart(
        settings: Settings, topics: Topics, tmp_path: Path, view: str) -> None:
    day = half_a_day_written(settings, topics, seed=15)
    log = tmp_path / "faulty.log"
    assert run_faulty_sink(sink_env(settings), log, "after:scans_incoming", "lose", view) == EXIT_CODE, \
        log.read_text()[-3000:]
    restarted = run_cli("sink", "--until-caught-up", env=sink_env(settings))
    assert "rebuilt the tier counts" in restarted.stderr
    with open_warehouse(settings) as warehouse:
        assert_equals_recount(warehouse, day)


def test_valid_records_the_engine_refuses_become_dead_letters_and_the_rest_lands(
        settings: Settings, topics: Topics, caplog: pytest.LogCaptureFixture) -> None:
    """Not an error to retry for ever, nor one to stop on: the batch is halved until the
    records the engine refuses alone are found; they are kept, with the engine's code."""
    day = generate_day(persons=150, seed=16)
    publish_day(settings.kafka_bootstrap, topics, day)
    refused = day.cases[0].case_id
    caplog.set_level(logging.INFO, logger="pipeline.sink")
    with open_warehouse(settings) as warehouse:
        migrate(warehouse, settings.retention_days)
        # A rule the record model does not know: the engine refuses this one case.
        warehouse.command("ALTER TABLE cases ADD CONSTRAINT not_this_case CHECK case_id != {case:String}",
                          {"case": refused})
        Sink(settings, warehouse, settings.kafka_bootstrap, until_caught_up=True).run()
        landed = {r[0] for r in warehouse.query("SELECT case_id FROM cases").rows}
        assert landed == {c.case_id for c in day.cases} - {refused}
        letters = warehouse.query("SELECT message FROM dead_letters FINAL WHERE source_topic = {t:String}",
                                  {"t": topics.cases.name}).rows
        assert len(letters) == 1 and "Code: 469." in letters[0][0] and "VIOLATED_CONSTRAINT" in letters[0][0]
        assert refused not in letters[0][0]
        assert warehouse.query("SELECT count() FROM dead_letters FINAL").scalar() == 7
        assert warehouse.query("SELECT uniqExact(event_id) FROM scans").scalar() == len({s.event_id for s in day.scans})
    assert any("the warehouse refuses a valid cases record" in r.getMessage() for r in caplog.records)


def test_a_valid_record_that_makes_every_insert_fail_becomes_a_dead_letter_and_the_sink_goes_on(
        settings: Settings, topics: Topics, caplog: pytest.LogCaptureFixture) -> None:
    """A visit of seventy years is a valid record, and its view would write a part for
    every day: the engine refuses the insert with TOO_MANY_PARTS, the code it gives when
    merges lag behind, so it is retried; when it keeps failing, halving finds the record."""
    from datetime import datetime, timezone

    from pipeline.kafka_io import produce_all, reliable_producer

    day = generate_day(persons=150, seed=17)
    publish_day(settings.kafka_bootstrap, topics, day)
    visit = day.records[0]
    endless = visit.model_copy(update={"visit_id": uuid.uuid4(), "t_out": datetime(2099, 1, 1, tzinfo=timezone.utc)})
    produce_all(reliable_producer(settings.kafka_bootstrap), topics.visits.name,
                [(endless.person_id.encode(), endless.to_bytes())])
    quick = settings.model_copy(update={"sink_retry_max_seconds": 0.2})
    caplog.set_level(logging.INFO, logger="pipeline.sink")
    with open_warehouse(quick) as warehouse:
        migrate(warehouse, quick.retention_days)
        Sink(quick, warehouse, settings.kafka_bootstrap, until_caught_up=True).run()
        letters = warehouse.query("SELECT message FROM dead_letters FINAL WHERE source_topic = {t:String}",
                                  {"t": topics.visits.name}).rows
        assert sum("Code: 252. TOO_MANY_PARTS" in m for m, in letters) == 1, letters
        assert_equals_recount(warehouse, day, dead_letters=7)  # and nothing of the endless visit
        for table in ("visits", "visits_by_person", "visit_slots"):
            assert not warehouse.query(f"SELECT count() FROM {table} WHERE visit_id = {{v:UUID}}",
                                       {"v": endless.visit_id}).scalar(), table
    messages = [r.getMessage() for r in caplog.records]
    assert any("looking for a record the engine refuses alone" in m for m in messages)
    assert any("on every attempt, and only it" in m for m in messages)
