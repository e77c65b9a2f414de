"""What the sink keeps of a record it cannot store: dead_letters is readable by everyone
the door lets in, so a bad record of a topic that carries personal or health data keeps
its length and its place on the topic, never its bytes (real Kafka, real chdb)."""

from __future__ import annotations

import base64

import pytest

from pipeline.kafka_io import produce_all, reliable_producer
from pipeline.settings import Settings
from pipeline.sink.sink import Sink
from pipeline.topics import Topics
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.migrations import migrate

pytestmark = pytest.mark.kafka
NAME, PHONE = "Trần Thị Bình", "0981234791"


def test_a_bad_record_of_personal_data_is_a_dead_letter_without_its_bytes(settings: Settings, topics: Topics) -> None:
    not_a_record = f"{NAME} {PHONE}".encode()  # typed by hand onto the topic, say
    not_a_scan = b'{"event_id": "x", "note": "no personal data in a scan"'
    produce_all(reliable_producer(settings.kafka_bootstrap), topics.personal_data.name,
                [(b"PBCDEFGHIJKLNOP", not_a_record)])
    produce_all(reliable_producer(settings.kafka_bootstrap), topics.scans_valid.name, [(b"PBCDEFGHIJKLNOP", not_a_scan)])
    with open_warehouse(settings) as warehouse:
        migrate(warehouse, 30)
        Sink(settings, warehouse, settings.kafka_bootstrap, until_caught_up=True).run()
        rows = warehouse.query("SELECT source_topic, raw_base64, raw_length, message FROM dead_letters "
                               "ORDER BY source_topic").rows
    by_topic = {topic: (raw, length, message) for topic, raw, length, message in rows}
    raw, length, message = by_topic[topics.personal_data.name]
    assert raw == "" and length == len(not_a_record) and "not kept here (personal data)" in message
    assert not any(NAME in str(row) or PHONE in str(row) for row in rows)
    raw, length, _ = by_topic[topics.scans_valid.name]  # a scan's dead letter keeps what it refused
    assert base64.b64decode(raw) == not_a_scan and length == len(not_a_scan)


def test_envelopes_land_a_row_per_record_and_a_bad_record_or_envelope_is_its_own_dead_letter(
        settings: Settings, topics: Topics) -> None:
    """The worker sends visits and valid scans in envelopes: each record lands as if it had
    come alone; one that is not a record is a dead letter at its place in the envelope (the
    others land); a message that starts as an envelope and is not one is one dead letter."""
    from warehouse_day import generate_day

    from schemas.envelopes import pack

    day = generate_day(persons=30, venues=4, seed=4)
    latest = list(day.latest().values())
    visits = [v.to_bytes() for v in latest]
    bad = b'{"visit_id": "not a visit"}'
    with_bad = visits[:5] + [bad] + visits[5:10]
    [first, second] = [next(pack(visits[10:])), next(pack(with_bad))]
    broken = b'{"envelope":1,"records":[{"not": "a string"}]}'
    scans = [s.to_bytes() for s in day.unique_scans()[:40]]
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.visits.name, [(b"PBCDEFGHIJKLNOP", m) for m in (first, second, broken)])
    produce_all(producer, topics.scans_valid.name, [(b"PBCDEFGHIJKLNOP", m) for m in pack(scans)])
    with open_warehouse(settings) as warehouse:
        migrate(warehouse, 30)
        Sink(settings, warehouse, settings.kafka_bootstrap, until_caught_up=True).run()
        landed = warehouse.query("SELECT count() FROM visits FINAL").scalar()
        stored = warehouse.query("SELECT count() FROM scans FINAL").scalar()
        letters = warehouse.query("SELECT source_offset, source_index, raw_base64, message FROM dead_letters "
                                  "WHERE source_topic = {t:String} ORDER BY source_offset, source_index",
                                  {"t": topics.visits.name}).rows
    assert landed == len(visits) and stored == len(scans)
    assert [(offset, index) for offset, index, _, _ in letters] == [(1, 5), (2, 0)]
    assert base64.b64decode(letters[0][2]) == bad
    assert "envelope" in letters[1][3] and base64.b64decode(letters[1][2]) == broken
