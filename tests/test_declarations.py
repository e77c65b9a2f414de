"""Health declarations: `ravao person declare` publishes them, the worker attaches each
person's status at a scan's time to the valid scan, the sink lands the declarations in
their personal table and the status in `scans` and the tier counts; and the answers
(symptoms, travel, the contact flag) reach nothing else: no other topic, no other table,
no log, no dead letter. Garbage on `declarations` stops neither the worker nor the sink."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, settings_env
from pipeline.declarations import publish_declaration
from pipeline.kafka_io import produce_all, read_to_end, reliable_producer
from pipeline.keys import load_codec
from pipeline.settings import Settings
from pipeline.recent_declarations import PER_PERSON, Declared, RecentDeclarations
from pipeline.stream.declaration_follower import DeclarationFollower
from pipeline.topics import Topics, groups_for
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.queries import load
from scenario import _scan
from schemas import Declaration, DeclarationStatus, Symptom, ValidScan
from schemas.registry import Person, Venue
from stream_helpers import LARGEST_VALUE, hostile_producer, lag, start_worker, stop_worker, valid_scans_on, wait_for
from test_sink_replay import sink_env

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
TRAVEL = "Côn Đảo qua Vũng Tàu 7f3a"  # the answers the test looks for everywhere else
BAD_TRAVEL = "Phú Quốc bad-9c1e"


def follower(now: datetime = NOW, days: int = 1) -> DeclarationFollower:
    return DeclarationFollower("unused:9092", "declarations",
                               RecentDeclarations(days, timedelta(hours=48), clock=lambda: now))


def declaration(person: str, at: datetime, **answers) -> Declaration:
    return Declaration(person_id=person, declared_on=at.date(), declared_at=at, **answers)


# --- the follower's memory, without Kafka ---------------------------------------------------
def test_a_scan_takes_the_status_of_the_latest_declaration_made_before_it_within_its_days() -> None:
    memory = follower()
    person = "P" + "D" * 14
    memory.apply(declaration(person, NOW - timedelta(hours=3)).to_bytes())
    memory.apply(declaration(person, NOW - timedelta(hours=1), symptoms=["fever"]).to_bytes())
    assert memory.status_of(person, NOW) is DeclarationStatus.symptoms
    assert memory.status_of(person, NOW - timedelta(hours=2)) is DeclarationStatus.ok  # older than the fever
    assert memory.status_of(person, NOW - timedelta(hours=4)) is DeclarationStatus.none  # before any
    assert memory.status_of(person, NOW + timedelta(days=1)) is DeclarationStatus.none  # no longer current
    assert memory.status_of("P" + "E" * 14, NOW) is DeclarationStatus.none


def test_the_memory_keeps_a_few_recent_declarations_per_person_and_forgets_the_rest() -> None:
    now = [NOW]
    memory = DeclarationFollower("unused:9092", "declarations",
                                 RecentDeclarations(1, timedelta(hours=48), clock=lambda: now[0]))
    person = "P" + "D" * 14
    for minutes in range(20):
        memory.apply(declaration(person, NOW - timedelta(minutes=minutes), contact_with_case=True).to_bytes())
    memory.apply(declaration(person, NOW - timedelta(days=4)).to_bytes())  # older than any accepted scan's window
    kept = memory.declarations.held(person)
    assert len(kept) == PER_PERSON and kept[-1] == Declared(NOW, DeclarationStatus.exposed)
    memory.apply(declaration(person, NOW).to_bytes())  # another declaration at the same time, other answers
    replayed = memory.declarations.held(person)
    memory.apply(declaration(person, NOW, contact_with_case=True).to_bytes())  # the same status again: no growth
    assert memory.declarations.held(person) == replayed
    # Only the time and the status are kept in memory, never the answers: one int each.
    assert all(isinstance(p, int) for p in memory.declarations._by_person[person])
    now[0] = NOW + timedelta(days=4)
    memory.declarations.prune()
    assert len(memory.declarations) == 0


def test_declarations_dated_ahead_cannot_push_a_persons_real_one_out() -> None:
    memory = follower()
    person = "P" + "D" * 14
    memory.apply(declaration(person, NOW - timedelta(hours=1), symptoms=["fever"]).to_bytes())
    for days in range(1, PER_PERSON + 3):  # only a producer with its own clock can date them so
        memory.apply(declaration(person, NOW + timedelta(days=days)).to_bytes())
    assert memory.status_of(person, NOW) is DeclarationStatus.symptoms
    assert len(memory.declarations.held(person)) == 1


def test_of_two_declarations_made_in_the_same_millisecond_the_worker_keeps_the_graver_status() -> None:
    memory = follower()
    person = "P" + "D" * 14
    at = NOW - timedelta(hours=1)
    memory.apply(declaration(person, at + timedelta(microseconds=300), symptoms=["cough"]).to_bytes())
    memory.apply(declaration(person, at, contact_with_case=True).to_bytes())
    memory.apply(declaration(person, at + timedelta(microseconds=600)).to_bytes())
    assert memory.status_of(person, NOW) is DeclarationStatus.symptoms  # as the gateway answers


def test_garbage_oversized_and_unknown_versions_on_the_topic_are_skipped() -> None:
    memory = follower()
    person = "P" + "D" * 14
    good = declaration(person, NOW - timedelta(hours=1), symptoms=["cough"])
    for value in (b"", b"\xff\xfe not json", b"{}", b"x" * 1_000_000,
                  good.to_bytes().replace(b'"schema_version":1', b'"schema_version":9'),
                  good.to_bytes().replace(b'"cough"', b'"sneezing"'), None):
        memory.apply(value, "somewhere")
    assert memory.skipped == 7 and len(memory.declarations) == 0
    memory.apply(good.to_bytes())
    assert memory.status_of(person, NOW) is DeclarationStatus.symptoms


# --- the command ----------------------------------------------------------------------------
@pytest.mark.kafka
def test_declaring_for_an_unknown_person_or_an_unknown_symptom_is_refused_with_what_to_do(
        settings: Settings, topics: Topics) -> None:
    env = settings_env(settings)
    unknown = run_cli("person", "declare", "P" + "B" * 14, "--symptom", "fever", env=env, check=False)
    assert unknown.returncode == 2 and "unknown person" in unknown.stderr and "ravao person add" in unknown.stderr
    person = Person(person_id="P" + "R" * 14)
    produce_all(reliable_producer(settings.kafka_bootstrap), topics.persons.name,
                [(person.person_id.encode(), person.to_bytes())])
    symptom = run_cli("person", "declare", person.person_id, "--symptom", "sneezing", env=env, check=False)
    assert symptom.returncode == 2 and "sneezing" in symptom.stderr and "fever" in symptom.stderr
    assert [v for _, v, _, _ in read_to_end(settings.kafka_bootstrap, topics.declarations.name)] == []
    declared = run_cli("person", "declare", person.person_id, "--symptom", "cough", "--on", "2026-11-20",
                       env=env).stdout.split()
    assert declared[1] == "symptoms"
    (value,) = [v for _, v, _, _ in read_to_end(settings.kafka_bootstrap, topics.declarations.name)]
    stored = Declaration.from_bytes(value)
    assert (stored.person_id, str(stored.declaration_id), stored.declared_by.value, stored.symptoms,
            stored.declared_on.isoformat()) == (person.person_id, declared[0], "cli", ["cough"], "2026-11-20")


# --- the stream and the warehouse, end to end -----------------------------------------------
def valid_scans(settings: Settings, topics: Topics) -> dict[str, ValidScan]:
    return {str(s.event_id): s for s in valid_scans_on(settings, topics.scans_valid.name)}


@pytest.mark.kafka
def test_a_declaration_made_just_before_a_scan_is_on_that_scan_and_its_answers_stay_in_the_declarations(
        settings: Settings, topics: Topics, tmp_path: Path) -> None:
    codec = load_codec(settings)
    shop = Venue(venue_id="V" + "D" * 14, name="Tạp hoá", area_id="25741", area_path=("74", "718", "25741"),
                 category="shop", default_stay_minutes=30, max_stay_minutes=180, owner_phone="0981234791")
    sick, well = Person(person_id="P" + "S" * 14), Person(person_id="P" + "V" * 14)
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.venues.name, [(shop.venue_id.encode(), shop.to_bytes())])
    produce_all(producer, topics.persons.name, [(p.person_id.encode(), p.to_bytes()) for p in (sick, well)])
    # Before anything runs: garbage, an oversized message and a bad declaration carrying answers.
    bad = declaration(sick.person_id, datetime.now(timezone.utc), travel=BAD_TRAVEL).to_bytes().replace(
        b'"symptoms":[]', b'"symptoms":["sneezing"]')
    produce_all(hostile_producer(settings), topics.declarations.name,
                [(b"junk", b"\x00\xff not json"), (sick.person_id.encode(), b"{" + b"x" * LARGEST_VALUE),
                 (sick.person_id.encode(), bad)])

    def scan(person: Person, at: datetime, direction: str) -> str:
        raw = _scan(codec, person.person_id, at, venue=shop, direction=direction)
        # Keyed by person, as the gateway sends it; the other path is keyed by venue.
        key = person.person_id if direction == "in" else shop.venue_id
        produce_all(producer, topics.scans_raw.name, [(key.encode(), raw)])
        return json.loads(raw)["event_id"]

    env = sink_env(settings)
    sink_log, worker_log = tmp_path / "sink.log", tmp_path / "w1.log"
    sink = subprocess.Popen([sys.executable, "-m", "pipeline", "sink"], env=env, cwd=ROOT, start_new_session=True,
                            stdout=open(sink_log, "wb"), stderr=subprocess.STDOUT)
    worker = start_worker(settings, "w1", tmp_path)
    expected: dict[str, DeclarationStatus] = {}
    try:
        warm = scan(well, datetime.now(timezone.utc) - timedelta(minutes=30), "in")
        expected[warm] = DeclarationStatus.none
        wait_for(lambda: warm in valid_scans(settings, topics), 90, "the worker to take its first scan",
                 [worker], tmp_path)
        time.sleep(1.5)  # idle: the declaration below must reach it through the catch-up, not a busy poll
        # Declared, then scanned at once: the scan must carry it.
        run_cli("person", "declare", sick.person_id, "--symptom", "fever", "--symptom", "cough",
                "--contact-with-case", "--travel", TRAVEL, env=env)
        after = scan(sick, datetime.now(timezone.utc), "in")
        expected[after] = DeclarationStatus.symptoms
        # A late scan from before the declaration keeps the earlier status (none).
        expected[scan(sick, datetime.now(timezone.utc) - timedelta(minutes=20), "out")] = DeclarationStatus.none
        # Through the other path (keyed by venue), and a declaration from a service's producer.
        publish_declaration(producer, topics.declarations, declaration(well.person_id, datetime.now(timezone.utc),
                                                                       declared_by="api"))
        expected[scan(well, datetime.now(timezone.utc), "out")] = DeclarationStatus.ok
        wait_for(lambda: expected.keys() <= valid_scans(settings, topics).keys(), 90, "the valid scans",
                 [worker, sink], tmp_path)
        got = valid_scans(settings, topics)
        assert {e: got[e].declaration for e in expected} == expected
        group = groups_for(settings).sink
        wait_for(lambda: all(lag(settings, group, t.name) == 0 for t in (topics.scans_valid, topics.declarations,
                                                                         topics.visits, topics.scans_dlq)),
                 90, "the sink to land everything", [worker, sink], tmp_path)
    finally:
        assert stop_worker(worker) == 0, worker_log.read_text()[-3000:]
        assert stop_worker(sink) == 0, sink_log.read_text()[-3000:]

    with open_warehouse(settings) as warehouse:
        def rows(sql: str) -> list:
            return json.loads(warehouse.query_raw(sql, {}, personal=True))["data"]

        assert dict(rows("SELECT toString(event_id), declaration FROM scans FINAL")) == {
            e: s.value for e, s in expected.items()}
        # The table's enums are the schema's words (a new symptom needs a migration).
        (symptoms_type,), = rows("SELECT type FROM system.columns WHERE database = currentDatabase() AND "
                                 "table = 'declarations' AND name = 'symptoms'")
        assert [w for w in symptoms_type.split("'")[1::2]] == [s.value for s in Symptom]
        landed = rows("SELECT person_id, symptoms, contact_with_case, travel, declared_by FROM declarations FINAL "
                      "ORDER BY declared_at")
        assert landed == [[sick.person_id, ["fever", "cough"], True, TRAVEL, "cli"],
                          [well.person_id, [], False, "", "api"]]
        # The counts: a current declaration on two scans, symptoms on one; equal to a recount.
        daily = rows("SELECT sum(scans), sum(scans_declared), sum(scans_with_symptoms) FROM tier_counts_daily "
                     "WHERE area_id = '74'")
        hourly = rows("SELECT sum(scans), sum(scans_declared), sum(scans_with_symptoms) FROM tier_counts_hourly "
                      "WHERE area_id = '25741'")
        assert daily == hourly == [[4, 2, 1]]
        assert warehouse.query(load("tier_counts_mismatches").sql).rows == []
        # The bad declaration and the oversized one are dead letters without their bytes.
        letters = rows("SELECT source_offset, raw_base64, raw_length, message FROM dead_letters "
                       f"WHERE source_topic = '{topics.declarations.name}' ORDER BY source_offset")
        assert [(offset, raw) for offset, raw, _, _ in letters] == [(0, ""), (1, ""), (2, "")]
        assert int(letters[1][2]) > LARGEST_VALUE - 10 and "not kept here" in letters[2][3]
        # Every other table, as JSON, holds none of the answers.
        tables = [t for (t,) in rows("SELECT name FROM system.tables WHERE database = currentDatabase() AND "
                                     "engine NOT IN ('MaterializedView', 'Null') AND name != 'declarations'")]
        elsewhere = "\n".join(json.dumps(rows(f"SELECT * FROM {t}"), ensure_ascii=False) for t in tables)
    assert "scans" in tables and "dead_letters" in tables and "tier_counts_daily" in tables
    words = [TRAVEL, BAD_TRAVEL, "Côn Đảo", "fever", "cough", "sneezing", "contact_with_case", "travel"]
    found = [w for w in words if w in elsewhere]
    assert not found, found

    # No other topic carries them (the worker's own changelog and stats included).
    from pipeline.kafka_io import admin
    names = [n for n in admin(settings.kafka_bootstrap).list_topics(timeout=15).topics
             if n.startswith(settings.topic_prefix) and n != topics.declarations.name]
    assert topics.scans_valid.name in names and any("changelog" in n for n in names)
    for name in names:
        for _, value, _, _ in read_to_end(settings.kafka_bootstrap, name):
            text = (value or b"").decode("utf-8", "replace")
            assert not [w for w in words if w in text], name

    # Nor any log: the services' output and every log file under the data directory.
    logs = [worker_log, sink_log, *Path(settings.data_dir).rglob("*.log")]
    for log in logs:
        text = log.read_bytes().decode("utf-8", "replace")
        assert not [w for w in words[:6] if w in text], log
    assert "not a declaration" in worker_log.read_text()  # the garbage was seen, counted, skipped
