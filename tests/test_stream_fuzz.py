"""Whatever the broker accepts on scans.raw, through the real worker: every message ends as
a valid scan on scans.valid or as a dead letter with a reason on scans.dlq, none is lost,
every dead letter is bounded, and the worker stays up and stops when asked."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pipeline.keys import load_codec
from pipeline.settings import Settings
from pipeline.topics import Topics
from scenario import scripted_day
from schemas import RejectReason
from schemas.dlq import MAX_DEAD_LETTER_RAW_BYTES
from schemas.envelopes import PREFIX as ENVELOPE
from schemas.envelopes import EnvelopeError, unpack
from stream_helpers import (LARGEST_VALUE, dead_letters, hostile_producer, start_worker, timed_stop,
                            valid_scans_on, wait_for)

FIELDS = ["schema_version", "event_id", "source", "person_qr", "venue_qr", "device_id", "direction", "scanned_at",
          "sent_at"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
EXAMPLES = 4  # each a batch of messages through the one worker of the test
BOUNDED_DEAD_LETTER = 4 * MAX_DEAD_LETTER_RAW_BYTES  # base64 of the prefix, the message, the rest


def with_field(raw: bytes, name: str, value: Any) -> bytes:
    body = json.loads(raw)
    body[name] = value
    return json.dumps(body).encode()


def raw_messages(valid: list[bytes]) -> st.SearchStrategy[bytes]:
    """Garbage, wrong types, huge strings, sizes up to what the broker takes, and valid scans."""
    sized = st.builds(lambda n, seed: random.Random(seed).randbytes(n), st.integers(0, LARGEST_VALUE),
                      st.integers(0, 2**32))
    huge_field = st.builds(lambda raw, name, n: with_field(raw, name, "x" * n), st.sampled_from(valid),
                           st.sampled_from(FIELDS), st.integers(100, LARGEST_VALUE - 1000))
    record = st.one_of(st.sampled_from(valid), st.binary(max_size=200).map(lambda b: b.decode("latin-1").encode()),
                       st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES).map(lambda d: json.dumps(d).encode()))
    envelope = st.lists(record, min_size=1, max_size=20).map(
        lambda records: ENVELOPE + b"1," + b'"records":' + json.dumps([r.decode() for r in records]).encode() + b"}")
    return st.one_of(
        envelope,  # scans of any kind in an envelope: each its own fate
        st.binary(max_size=300).map(lambda b: ENVELOPE + b),  # starts as an envelope, is not one
        st.binary(max_size=300),
        st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES).map(lambda d: json.dumps(d).encode()),
        st.builds(with_field, st.sampled_from(valid), st.sampled_from(FIELDS), JSON_VALUES),
        huge_field,
        sized,
        st.sampled_from(valid),
    )


def produce_tracked(producer, topic: str, messages: list[tuple[bytes | None, bytes]]) -> list[tuple[int, int, bytes]]:
    """Send and wait: (partition, offset, value) of each message as the broker stored it."""
    stored, errors = [], []

    def on_delivery(err, msg) -> None:
        (errors.append(err) if err else stored.append((msg.partition(), msg.offset(), msg.value())))

    for key, value in messages:
        producer.produce(topic, value, key, on_delivery=on_delivery)
        producer.poll(0)
    producer.flush(60)
    assert not errors and len(stored) == len(messages), errors[:3]
    return stored


def unaccounted(settings: Settings, topics: Topics, sent: list[tuple[int, int, bytes]]) -> list[str]:
    """What of ``sent`` is neither a dead letter nor on scans.valid, and dead letters that
    do not say what they refused or are unbounded."""
    letters = {(d.source_partition, d.source_offset, d.source_index): d
               for d in dead_letters(settings, topics.scans_dlq.name) if d.source_topic == topics.scans_raw.name}
    accepted = {str(s.event_id) for s in valid_scans_on(settings, topics.scans_valid.name)}
    missing = []
    for partition, offset, value in sent:
        try:
            records = unpack(value)  # a message's scans: itself, or an envelope's
        except EnvelopeError:
            records = [value]  # refused as a whole: one dead letter, at place 0
        for index, record in enumerate(records):
            letter = letters.get((partition, offset, index))
            if letter is not None:
                assert letter.raw_length == len(record), (partition, offset, index)
                assert len(letter.to_bytes()) < BOUNDED_DEAD_LETTER and letter.reason, letter.reason
                continue
            try:
                event_id = str(json.loads(record)["event_id"])
            except Exception:  # noqa: BLE001 - not a scan: it had to be a dead letter
                event_id = None
            if event_id not in accepted:
                missing.append(f"{partition}@{offset}#{index} ({len(record)} bytes)")
    return missing


@pytest.mark.kafka
def test_every_message_the_broker_accepts_ends_valid_or_as_a_bounded_dead_letter(settings: Settings, topics: Topics,
                                                                                 tmp_path: Path) -> None:
    day = scripted_day(load_codec(settings), persons=20)
    day.publish(settings.kafka_bootstrap, topics)
    valid = [raw for _, raw in day.scans[:40]]
    producer = hostile_producer(settings)
    keys = st.one_of(st.none(), st.binary(max_size=16), st.sampled_from([p.person_id.encode() for p in day.persons]))
    worker = start_worker(settings, "w1", tmp_path)

    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate], database=None,
                         suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(keys, raw_messages(valid)), min_size=1, max_size=25))
    def every_message_is_accounted_for(messages: list[tuple[bytes | None, bytes]]) -> None:
        # The edges every run: the largest scan, one byte more, the largest message.
        messages = messages + [(None, b"x" * MAX_DEAD_LETTER_RAW_BYTES), (None, b"x" * (MAX_DEAD_LETTER_RAW_BYTES + 1)),
                               (None, random.Random(0).randbytes(LARGEST_VALUE))]
        sent = produce_tracked(producer, topics.scans_raw.name, messages)
        left: list[str] = []

        def accounted() -> bool:
            left[:] = unaccounted(settings, topics, sent)
            return not left

        try:
            wait_for(accounted, 120, "every message to be accounted for", [worker], tmp_path)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; not accounted for: {left[:5]}") from None

    try:
        every_message_is_accounted_for()
        assert worker.poll() is None
        # The examples did run, each with its two messages larger than a scan.
        letters = dead_letters(settings, topics.scans_dlq.name)
        assert sum(d.reason is RejectReason.oversized and d.raw_truncated for d in letters) >= 2 * EXAMPLES
    finally:
        code, seconds = timed_stop(worker)
    assert code == 0 and seconds < 10, (code, seconds)
