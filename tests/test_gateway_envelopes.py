"""The gateway publishes the scans of one partition as envelopes: per request, and across
concurrent requests within its flush window; a real `ravao gateway` on the real broker,
and what it published read back, message by message."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from conftest import TEST_QR_KEYS
from metrics_helpers import parsed, value
from gateway_helpers import Stack, person_of, register, start_gateway, stop_gateway
from pipeline.kafka_io import admin, ensure_topics, read_to_end
from pipeline.settings import Settings
from pipeline.stream.layout import partition_of
from pipeline.topics import topics_for
from schemas.envelopes import unpack
from schemas.scans import RawScan

pytestmark = pytest.mark.kafka


def new_stack(kafka_bootstrap: str, home: Path) -> Stack:
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"e{uuid.uuid4().hex[:10]}.",
                        topic_partitions=3, data_dir=home / "data", qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    return register(settings)


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    return new_stack(kafka_bootstrap, tmp_path_factory.mktemp("gateway-envelopes"))


@pytest.fixture(scope="module")
def base(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A window wide enough that a burst from this test's client lands in it on a busy machine.
    process, url = start_gateway(stack.settings, tmp_path_factory.mktemp("gateway-envelopes-logs"),
                                 RAVAO_GATEWAY_FLUSH_MS="100")
    try:
        yield url
    finally:
        assert stop_gateway(process) == 0


def scan(code: str) -> dict:
    return {"event_id": str(uuid.uuid4()), "person_qr": code}


def messages(settings: Settings, event_ids: set[str]) -> list[tuple[int, bytes, list[RawScan]]]:
    """(partition, key, scans) of each message on scans.raw holding one of these events."""
    found = []
    for key, message, partition, _ in read_to_end(settings.kafka_bootstrap, topics_for(settings).scans_raw.name):
        scans = [RawScan.from_bytes(record) for record in unpack(message)]
        if any(str(s.event_id) in event_ids for s in scans):
            found.append((partition, key, scans))
    return found


async def burst(base: str, bodies: list[tuple[dict, dict]], path: str = "/api/v1/scans") -> list[httpx.Response]:
    """Every (headers, body) posted at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        return await asyncio.gather(*(http.post(path, json=body, headers=headers) for headers, body in bodies))


def assert_each_scan_once_in_its_partition(stack: Stack, found, event_ids: set[str]) -> None:
    partitions = stack.settings.topic_partitions
    seen = [str(s.event_id) for _, _, scans in found for s in scans]
    assert sorted(seen) == sorted(event_ids)  # every scan, exactly once
    for partition, key, scans in found:
        for s in scans:
            assert partition_of(person_of(stack.settings, s).encode(), partitions) == partition
        assert partition_of(key, partitions) == partition


def test_a_burst_of_concurrent_requests_lands_as_fewer_messages_than_scans(stack: Stack, base: str) -> None:
    bodies = [(stack.bearer(stack.station), scan(stack.codes[i % len(stack.codes)])) for i in range(40)]
    answers = asyncio.run(burst(base, bodies))
    assert [a.status_code for a in answers] == [200] * len(bodies), [a.text for a in answers if a.status_code != 200]
    event_ids = {body["event_id"] for _, body in bodies}
    found = messages(stack.settings, event_ids)
    assert len(found) < len(event_ids)
    assert any(len(scans) > 1 for _, _, scans in found)  # an envelope
    assert_each_scan_once_in_its_partition(stack, found, event_ids)


def test_a_batch_goes_as_one_envelope_per_partition(stack: Stack, base: str) -> None:
    scans = [scan(stack.codes[i % len(stack.codes)]) for i in range(30)]
    with httpx.Client(base_url=base, timeout=30) as http:
        response = http.post("/api/v1/scans/batch", json={"scans": scans}, headers=stack.bearer(stack.station))
    assert response.status_code == 200 and response.json()["accepted"] == 30, response.text
    event_ids = {s["event_id"] for s in scans}
    found = messages(stack.settings, event_ids)
    people = {partition_of(p.encode(), stack.settings.topic_partitions) for p in stack.persons}
    assert len(found) == len(people)  # all 30 scans of a partition in one message
    assert_each_scan_once_in_its_partition(stack, found, event_ids)
    with httpx.Client(base_url=base, timeout=30) as http:  # the envelopes' size, as /metrics counts it
        metrics = parsed(http.get("/metrics").text)
    assert value(metrics, "ravao_gateway_published_scans_total") > value(metrics, "ravao_gateway_scan_messages_total")


def test_a_single_scan_at_low_load_is_answered_and_goes_as_itself(stack: Stack, base: str) -> None:
    body = scan(stack.codes[0])
    with httpx.Client(base_url=base, timeout=10) as http:  # the window is 100 ms: no wait for it to fill
        response = http.post("/api/v1/scans", json=body, headers=stack.bearer(stack.guard))
    assert response.status_code == 200, response.text
    (partition, key, scans), = messages(stack.settings, {body["event_id"]})
    assert key == stack.persons[0].encode() and [str(s.event_id) for s in scans] == [body["event_id"]]


def test_with_envelopes_off_every_scan_is_its_own_message(stack: Stack, tmp_path: Path) -> None:
    process, url = start_gateway(stack.settings, tmp_path, RAVAO_GATEWAY_ENVELOPES="false")
    try:
        scans = [scan(stack.codes[i % len(stack.codes)]) for i in range(6)]
        with httpx.Client(base_url=url, timeout=30) as http:
            response = http.post("/api/v1/scans/batch", json={"scans": scans}, headers=stack.bearer(stack.station))
        assert response.status_code == 200, response.text
    finally:
        assert stop_gateway(process) == 0
    found = messages(stack.settings, {s["event_id"] for s in scans})
    assert len(found) == 6
    for partition, key, (raw,) in found:
        assert key.decode() == person_of(stack.settings, raw)


def test_a_refused_envelope_fails_every_request_with_a_scan_in_it(kafka_bootstrap: str, tmp_path: Path) -> None:
    """The broker refuses messages over 1,500 bytes on this scans.raw: an envelope of a
    batch and of the single scans that shared its window is refused, one scan alone is not."""
    stack = new_stack(kafka_bootstrap, tmp_path)
    raw_topic = topics_for(stack.settings).scans_raw.name
    limit = ConfigResource(ConfigResource.Type.TOPIC, raw_topic, incremental_configs=[
        ConfigEntry("max.message.bytes", "1500", incremental_operation=AlterConfigOpType.SET)])
    client = admin(kafka_bootstrap)  # kept: the results need their client alive
    for future in client.incremental_alter_configs([limit]).values():
        future.result(30)
    # The window is long, so that the batch and the single scans surely share it.
    process, url = start_gateway(stack.settings, tmp_path, RAVAO_GATEWAY_FLUSH_MS="500")
    try:
        person = stack.codes[0]
        batch = [scan(person) for _ in range(30)]
        singles = [scan(person) for _ in range(3)]
        bodies = [(stack.bearer(stack.station), {"scans": batch})]
        answers = asyncio.run(together(url, bodies, [(stack.bearer(stack.guard), s) for s in singles]))
        assert [a.status_code for a in answers] == [503] * 4, [a.text for a in answers]
        assert all(a.json()["error"] == "kafka_unavailable" and a.headers["Retry-After"] for a in answers)
        assert all("too large" in a.json()["message"] for a in answers), [a.json()["message"] for a in answers]
        alone = scan(person)
        with httpx.Client(base_url=url, timeout=30) as http:
            response = http.post("/api/v1/scans", json=alone, headers=stack.bearer(stack.guard))
        assert response.status_code == 200, response.text  # the producer is still good
    finally:
        assert stop_gateway(process) == 0
    refused = {s["event_id"] for s in batch + singles}
    assert messages(stack.settings, refused) == []
    assert len(messages(stack.settings, {alone["event_id"]})) == 1


async def together(base: str, batches: list[tuple[dict, dict]], singles: list[tuple[dict, dict]]) -> list:
    first = asyncio.create_task(burst(base, batches, "/api/v1/scans/batch"))
    rest = asyncio.create_task(burst(base, singles))
    return [*await first, *await rest]
