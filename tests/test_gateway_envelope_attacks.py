"""Attacks on the gateway's scan envelopes (`producers.gateway.envelopes.ScanPublisher`).

The promise: a request answered has every one of its scans on Kafka, in its person's
partition; a request refused (`NotAcknowledged`, 503) may be sent again; no scan of one
request is acknowledged because of another request's success; nothing is lost when the
broker refuses or times out an envelope; a burst bigger than one envelope still answers
correctly.

Most tests drive a real `Publisher` and `ScanPublisher` in this process, on the real
broker (so that a window's contents are known exactly), on a topic of their own; one runs
a real `ravao gateway` and stops it with SIGTERM while its windows are open. Nothing is
timed: each test waits on the requests' outcomes and then reads the topic to its end.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from confluent_kafka.admin import NewTopic

from gateway_helpers import Stack, person_of, published, register, start_gateway, stop_gateway
from conftest import TEST_QR_KEYS
from pipeline.kafka_io import admin, ensure_topics, read_to_end
from pipeline.settings import Settings
from pipeline.stream.layout import partition_of
from pipeline.topics import topics_for
from producers.gateway.envelopes import ScanPublisher
from producers.gateway.publisher import NotAcknowledged, Publisher
from schemas.envelopes import MAX_ENVELOPE_BYTES, MAX_ENVELOPE_RECORDS, unpack

pytestmark = pytest.mark.kafka

PARTITIONS = 3


# --- helpers ---------------------------------------------------------------------------------
def new_topic(bootstrap: str, max_message_bytes: int | None = None) -> str:
    name = f"attack.{uuid.uuid4().hex[:12]}"
    config = {} if max_message_bytes is None else {"max.message.bytes": str(max_message_bytes)}
    client = admin(bootstrap)
    for future in client.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1,
                                                 config=config)]).values():
        future.result(30)
    # The leaders of a topic just made: wait until its metadata shows them.
    while True:
        topic = client.list_topics(name, timeout=15).topics[name]
        if topic.error is None and len(topic.partitions) == PARTITIONS and all(
                p.leader >= 0 for p in topic.partitions.values()):
            return name


def keys_of(partition: int, count: int = 3) -> list[bytes]:
    """Person keys that hash to ``partition`` (murmur2, as the worker's)."""
    found, i = [], 0
    while len(found) < count:
        key = f"P{i:06d}".encode()
        if partition_of(key, PARTITIONS) == partition:
            found.append(key)
        i += 1
    return found


def record(key: bytes, pad: int = 0) -> tuple[bytes, bytes]:
    """(person key, a compact JSON record) with a fresh event id, ``pad`` random characters
    bigger (random: the producer's lz4 does not shrink it under a topic's size limit)."""
    body = {"event_id": str(uuid.uuid4()), "person": key.decode(), "pad": secrets.token_hex(pad // 2 + 1)[:pad]}
    return key, json.dumps(body, separators=(",", ":")).encode()


def eid(rec: tuple[bytes, bytes]) -> str:
    return json.loads(rec[1])["event_id"]


def on_topic(bootstrap: str, topic: str) -> list[tuple[int, bytes, list[dict], int]]:
    """(partition, key, records, message size) of each message on the topic."""
    return [(partition, key, [json.loads(r) for r in unpack(value)], len(value))
            for key, value, partition, _ in read_to_end(bootstrap, topic)]


def where(bootstrap: str, topic: str) -> dict[str, list[int]]:
    """event id -> the partitions of every copy on the topic."""
    seen: dict[str, list[int]] = {}
    for partition, _, records, _ in on_topic(bootstrap, topic):
        for r in records:
            seen.setdefault(r["event_id"], []).append(partition)
    return seen


async def outcome(coro) -> str | Exception:
    try:
        await coro
        return "ok"
    except Exception as error:  # noqa: BLE001 - the outcome is what the test looks at
        return error


def assert_in_its_partition(seen: dict[str, list[int]], records: list[tuple[bytes, bytes]]) -> None:
    for rec in records:
        assert seen.get(eid(rec)), f"{eid(rec)} was acknowledged and is not on the topic"
        assert set(seen[eid(rec)]) == {partition_of(rec[0], PARTITIONS)}


@pytest.fixture
def publisher_factory(kafka_bootstrap: str) -> Iterator:
    made: list[Publisher] = []

    def make(topic: str, ack_timeout: float = 20, **config) -> Publisher:
        publisher = Publisher(kafka_bootstrap, topic, ack_timeout, **config)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close(5)


# --- attacks that held -----------------------------------------------------------------------
def test_a_refused_window_fails_only_its_own_requests_not_another_partitions(kafka_bootstrap: str,
                                                                           publisher_factory) -> None:
    """max.message.bytes 1500: within one window, a batch and a single scan of partition 0
    make an envelope the broker refuses; a single scan of partition 1 in the same window
    goes alone and is acknowledged. Nothing refused is on the topic; what passed is, once."""
    topic = new_topic(kafka_bootstrap, max_message_bytes=1500)
    p0, p1 = keys_of(0), keys_of(1)
    batch = [record(p0[i % 3], pad=100) for i in range(30)]
    single0, single1 = [record(p0[0])], [record(p1[0])]

    async def run():
        scans = ScanPublisher(publisher_factory(topic), PARTITIONS, flush_seconds=0.3)
        return await asyncio.gather(*(outcome(scans.publish(r)) for r in (batch, single0, single1)))

    a, b, c = asyncio.run(run())
    assert isinstance(a, NotAcknowledged) and isinstance(b, NotAcknowledged), (a, b)
    assert "too large" in str(a).lower() or "size" in str(a).lower(), a
    assert c == "ok", c
    seen = where(kafka_bootstrap, topic)
    assert not any(eid(r) in seen for r in batch + single0)
    assert_in_its_partition(seen, single1)
    assert len(seen[eid(single1[0])]) == 1


def test_a_request_over_several_partitions_fails_when_one_partitions_envelope_fails(
        kafka_bootstrap: str, publisher_factory) -> None:
    """A batch spanning partitions 0 (refused: too big) and 1 (fine) is refused as a whole;
    a request sharing its partition-1 window is acknowledged, and its scan is there; the
    batch sent again alone, small enough, is acknowledged and each scan is in its partition
    (the copies of its partition-1 scans from the first try are repeats the worker drops)."""
    topic = new_topic(kafka_bootstrap, max_message_bytes=1500)
    p0, p1 = keys_of(0), keys_of(1)
    spanning = [record(p0[i % 3], pad=100) for i in range(30)] + [record(p1[1])]
    neighbour = [record(p1[0])]

    async def run():
        scans = ScanPublisher(publisher_factory(topic), PARTITIONS, flush_seconds=0.3)
        first = await asyncio.gather(outcome(scans.publish(spanning)), outcome(scans.publish(neighbour)))
        # Sent again with the same event ids, a few at a time (each envelope small enough).
        again = [await outcome(scans.publish(spanning[i:i + 3])) for i in range(0, len(spanning), 3)]
        return first, again

    (a, b), again = asyncio.run(run())
    assert isinstance(a, NotAcknowledged), a
    assert b == "ok", b
    assert again == ["ok"] * len(again), again
    seen = where(kafka_bootstrap, topic)
    assert_in_its_partition(seen, spanning + neighbour)


def test_a_cancelled_request_mid_window_neither_cancels_nor_fails_the_others(kafka_bootstrap: str,
                                                                            publisher_factory) -> None:
    """A client that goes away while its scans wait in a window (its request cancelled): the
    window still goes, the other requests in it are acknowledged and are on the topic."""
    topic = new_topic(kafka_bootstrap)
    p0 = keys_of(0)
    leaving, staying = [record(p0[0]) for _ in range(5)], [record(p0[1]) for _ in range(5)]

    async def run():
        scans = ScanPublisher(publisher_factory(topic), PARTITIONS, flush_seconds=0.5)
        gone = asyncio.create_task(scans.publish(leaving))
        kept = asyncio.create_task(outcome(scans.publish(staying)))
        while 0 not in scans._windows or len(scans._windows[0].records) < 10:
            await asyncio.sleep(0)  # both requests' scans in the open window
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await kept

    assert asyncio.run(run()) == "ok"
    seen = where(kafka_bootstrap, topic)
    assert_in_its_partition(seen, staying)
    assert_in_its_partition(seen, leaving)  # sent anyway: a resend is a repeat the worker drops


def test_an_oversized_scan_next_to_small_ones_fails_its_window_and_a_resend_goes_through(
        kafka_bootstrap: str, publisher_factory) -> None:
    """max.message.bytes 600 KiB: a window of a small scan, a 700 KB scan and another small
    one in partition 0 is split by `pack` (each part under 900 KiB); the broker refuses the
    big part. None of the three is answered as acknowledged (they stand or fall together);
    the small ones sent again in a window without the big one are acknowledged."""
    topic = new_topic(kafka_bootstrap, max_message_bytes=600 * 1024)
    p0 = keys_of(0)
    small_a, big, small_c = [record(p0[0])], [record(p0[1], pad=700_000)], [record(p0[2])]

    async def run():
        scans = ScanPublisher(publisher_factory(topic), PARTITIONS, flush_seconds=0.3)
        first = await asyncio.gather(*(outcome(scans.publish(r)) for r in (small_a, big, small_c)))
        again = await asyncio.gather(*(outcome(scans.publish(r)) for r in (small_a, small_c)))
        return first, again

    first, again = asyncio.run(run())
    assert all(isinstance(o, NotAcknowledged) for o in first), first
    assert again == ["ok", "ok"], again
    seen = where(kafka_bootstrap, topic)
    assert eid(big[0]) not in seen
    assert_in_its_partition(seen, small_a + small_c)


def test_a_burst_bigger_than_one_envelope_is_split_within_the_limits_and_all_acknowledged(
        kafka_bootstrap: str, publisher_factory) -> None:
    """One window of 2,500 scans of partition 0 from 25 requests (past 1,000 records) and of
    12 scans of 100 KB in partition 1 (past 900 KiB): each is split, every request is
    acknowledged, every scan is on the topic once in its partition, each message within the
    limits."""
    topic = new_topic(kafka_bootstrap)
    p0, p1 = keys_of(0), keys_of(1)
    many = [[record(p0[(i + j) % 3]) for j in range(100)] for i in range(25)]
    heavy = [[record(p1[i % 3], pad=100_000)] for i in range(12)]

    async def run():
        scans = ScanPublisher(publisher_factory(topic), PARTITIONS, flush_seconds=0.5)
        return await asyncio.gather(*(outcome(scans.publish(r)) for r in many + heavy))

    assert asyncio.run(run()) == ["ok"] * (len(many) + len(heavy))
    messages = on_topic(kafka_bootstrap, topic)
    for _, _, records, size in messages:
        assert len(records) <= MAX_ENVELOPE_RECORDS and size <= MAX_ENVELOPE_BYTES
    everything = [r for req in many + heavy for r in req]
    seen = where(kafka_bootstrap, topic)
    assert_in_its_partition(seen, everything)
    assert all(len(seen[eid(r)]) == 1 for r in everything)
    assert sum(1 for p, *_ in messages if p == 0) >= 3 and sum(1 for p, *_ in messages if p == 1) >= 2


def test_a_full_producer_queue_fails_that_window_only_and_the_flush_goes_on(kafka_bootstrap: str,
                                                                          publisher_factory) -> None:
    """The producer's queue holds 3 messages: a window of partition 1 (one message) goes first,
    then one of 3,500 scans of partition 0 (4 messages) meets a full queue (BufferError). Its
    requests fail (retryable), the other window's request is acknowledged and its scan there;
    no exception leaks out of the flush (the loop's handler saw none)."""
    topic = new_topic(kafka_bootstrap)
    p0, p1 = keys_of(0), keys_of(1)
    alone = [record(p1[0])]
    flood = [[record(p0[j % 3]) for j in range(350)] for _ in range(10)]
    leaked: list[dict] = []

    async def run():
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: leaked.append(context))
        scans = ScanPublisher(publisher_factory(topic, **{"queue.buffering.max.messages": 3}), PARTITIONS,
                              flush_seconds=0.3)
        first = asyncio.create_task(outcome(scans.publish(alone)))
        await asyncio.sleep(0)  # partition 1's window opens first
        return await asyncio.gather(first, *(outcome(scans.publish(r)) for r in flood))

    results = asyncio.run(run())
    assert results[0] == "ok", results[0]
    assert all(isinstance(o, NotAcknowledged) and "queue is full" in str(o) for o in results[1:]), results[1:]
    assert not leaked, leaked
    assert_in_its_partition(where(kafka_bootstrap, topic), alone)


def test_a_zero_ms_window_sends_each_request_alone_and_a_refusal_touches_no_other(kafka_bootstrap: str,
                                                                                publisher_factory) -> None:
    """RAVAO_GATEWAY_FLUSH_MS=0: concurrent requests to one partition each go as their own
    message(s); the broker refuses the big one (max.message.bytes 1500). Found: the small
    requests produced within the same linger.ms usually fail with it (librdkafka puts them
    in the same record batch, which the broker judges whole), so a request can 503 for
    another's envelope even outside its window; but each fails retryably, none is
    acknowledged wrongly, and sent again they are acknowledged, in their partition."""
    topic = new_topic(kafka_bootstrap, max_message_bytes=1500)
    p0 = keys_of(0)
    big = [record(p0[i % 3], pad=100) for i in range(30)]
    smalls = [[record(p0[i % 3])] for i in range(5)]

    async def run():
        scans = ScanPublisher(publisher_factory(topic), PARTITIONS, flush_seconds=0)
        return await asyncio.gather(*(outcome(scans.publish(r)) for r in [big, *smalls]))

    results = asyncio.run(run())
    # A refused record batch can take small messages produced within the same linger with it
    # (the broker judges the batch); those fail too, retryably. None is acknowledged wrongly.
    assert isinstance(results[0], NotAcknowledged), results[0]
    seen = where(kafka_bootstrap, topic)
    assert not any(eid(r) in seen for r in big)
    for req, result in zip(smalls, results[1:]):
        if result == "ok":
            assert_in_its_partition(seen, req)
        else:
            assert isinstance(result, NotAcknowledged), result

    async def again():  # the small ones sent again, with the big one gone: acknowledged
        scans = ScanPublisher(publisher_factory(topic), PARTITIONS, flush_seconds=0)
        return await asyncio.gather(*(outcome(scans.publish(r)) for r in smalls))

    assert asyncio.run(again()) == ["ok"] * len(smalls)
    assert_in_its_partition(where(kafka_bootstrap, topic), [r for req in smalls for r in req])


def test_stopping_with_windows_open_sends_them_and_answers_their_requests(kafka_bootstrap: str,
                                                                         publisher_factory) -> None:
    """What `Gateway.stop` does (flush the windows, then close the producer) while requests
    wait on open windows of a long flush window: every request is acknowledged, its scans
    on the topic in their partitions."""
    topic = new_topic(kafka_bootstrap)
    requests = [[record(keys_of(p)[i % 3]) for p in range(PARTITIONS)] for i in range(10)]

    async def run():
        publisher = publisher_factory(topic)
        scans = ScanPublisher(publisher, PARTITIONS, flush_seconds=60)
        waiting = [asyncio.create_task(outcome(scans.publish(r))) for r in requests]
        while sum(len(w.records) for w in scans._windows.values()) < 3 * len(requests):
            await asyncio.sleep(0)
        scans.flush()
        await asyncio.to_thread(publisher.close)
        return await asyncio.gather(*waiting)

    assert asyncio.run(run()) == ["ok"] * len(requests)
    assert_in_its_partition(where(kafka_bootstrap, topic), [r for req in requests for r in req])


def test_sigterm_with_windows_open_loses_no_acknowledged_scan(kafka_bootstrap: str, tmp_path: Path) -> None:
    """A real gateway with a 1 s flush window is stopped (SIGTERM) while requests are in
    flight: it exits cleanly; every request answered 200 has each of its scans on scans.raw
    in its person's partition; the others got no answer or 503 (retryable)."""
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"s{uuid.uuid4().hex[:10]}.",
                        topic_partitions=PARTITIONS, data_dir=tmp_path / "data", qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    stack: Stack = register(settings)
    process, url = start_gateway(settings, tmp_path, RAVAO_GATEWAY_FLUSH_MS="1000")
    host, port = urlsplit(url).hostname, urlsplit(url).port
    bodies = [{"scans": [{"event_id": str(uuid.uuid4()), "person_qr": stack.codes[(i + j) % 3]} for j in range(6)]}
              for i in range(8)]
    answers: dict[int, int | None] = {}
    written = threading.Barrier(len(bodies) + 1)
    token = stack.bearer(stack.station)["Authorization"]

    def send(index: int) -> None:
        payload = json.dumps(bodies[index]).encode()
        head = (f"POST /api/v1/scans/batch HTTP/1.1\r\nHost: {host}\r\nAuthorization: {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
        with socket.create_connection((host, port), timeout=60) as sock:
            sock.sendall(head.encode() + payload)
            written.wait()
            reply = b""
            try:
                while chunk := sock.recv(65536):
                    reply += chunk
            except OSError:
                pass
        answers[index] = int(reply.split()[1]) if reply.startswith(b"HTTP/1.1") else None

    try:
        senders = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
        for sender in senders:
            sender.start()
        written.wait()  # every request is on the wire
    finally:
        code = stop_gateway(process)
    for sender in senders:
        sender.join(120)
    assert code == 0
    assert set(answers.values()) <= {200, 503, None}, answers
    found = {str(s.event_id): (person, s) for person, s in published(settings)}
    partitions = {json.loads(r)["event_id"]: p
                  for _, value, p, _ in read_to_end(kafka_bootstrap, topics_for(settings).scans_raw.name)
                  for r in unpack(value)}
    for index, status in answers.items():
        if status == 200:
            for scan in bodies[index]["scans"]:
                person, raw = found[scan["event_id"]]
                assert partitions[scan["event_id"]] == partition_of(person_of(settings, raw).encode(), PARTITIONS)
    print(f"answers at SIGTERM: {sorted(answers.items())}")


# --- defects found (fixed) ---------------------------------------------------------------------------------
def test_an_unsendable_record_in_one_window_does_not_stall_another_partitions_window(
        kafka_bootstrap: str, publisher_factory) -> None:
    """A KafkaException from produce (a record over the client's message.max.bytes) used to
    escape `ScanPublisher.flush`: the windows after it were never sent, their requests failed
    only at the ack timeout (and with flush 0 the request got a raw KafkaException, a 500).
    Now that window fails alone (NotAcknowledged) and the flush goes on; at 0 ms too."""
    topic = new_topic(kafka_bootstrap)
    p0, p1 = keys_of(0), keys_of(1)
    huge = [record(p0[0], pad=1_100_000)]  # over librdkafka's message.max.bytes (1,000,000)
    other = [record(p1[0])]

    async def run():
        scans = ScanPublisher(publisher_factory(topic, ack_timeout=5), PARTITIONS, flush_seconds=0.2)
        return await asyncio.gather(outcome(scans.publish(huge)), outcome(scans.publish(other)))

    async def zero():
        return await outcome(ScanPublisher(publisher_factory(topic, ack_timeout=5), PARTITIONS, 0).publish(huge))

    a, b = asyncio.run(run())
    assert isinstance(asyncio.run(zero()), NotAcknowledged)
    assert isinstance(a, NotAcknowledged), a  # retryable (503), not a raw KafkaException (500)
    assert b == "ok", b  # before the fix: never sent, NotAcknowledged at the ack timeout
    assert_in_its_partition(where(kafka_bootstrap, topic), other)
