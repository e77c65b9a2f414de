"""The gateway contract the station relies on (producers/station/gateway_client.py),
checked with the station's own client against `ravao gateway` (a subprocess) publishing
to the real broker."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.kafka_io import produce_all, read_to_end, reliable_producer
from pipeline.keys import load_codec
from pipeline.registry import token_hash
from pipeline.settings import Settings
from pipeline.topics import Topics
from producers.station.gateway_client import GatewayClient, OperatorNeeded
from producers.station.outbox import Outbox
from producers.station.check import CodeChecker
from producers.station.sender import Sender
from producers.station.station import Station
from schemas.declarations import Declaration, DeclaredBy, Symptom
from schemas.envelopes import unpack
from schemas.ids import new_id
from schemas.registry import Device, DeviceKind, GateMode
from schemas.scans import RawScan, ScanSource
from station_helpers import start_gateway, stop_gateway

TOKEN = "a-token-for-the-contract-test"


@pytest.fixture
def device(settings: Settings, topics: Topics) -> Device:
    device = Device(device_id=new_id("D"), venue_id=new_id("V"), kind=DeviceKind.reader_station,
                    mode=GateMode.entry, token_sha256=token_hash(TOKEN))
    produce_all(reliable_producer(settings.kafka_bootstrap), topics.devices.name,
                [(device.device_id.encode(), device.to_bytes())])
    return device


@pytest.fixture
def gateway(settings: Settings, topics: Topics, tmp_path: Path) -> Iterator[str]:
    process, base = start_gateway(settings, tmp_path)
    try:
        yield base
    finally:
        stop_gateway(process)


def scans(settings: Settings, n: int) -> list[dict]:
    code = load_codec(settings).encode(new_id("P"))
    at = datetime.now(timezone.utc).isoformat()
    return [{"event_id": str(uuid.uuid4()), "person_qr": code, "direction": "in", "scanned_at": at, "sent_at": at}
            for _ in range(n)]


@pytest.mark.kafka
def test_an_accepted_batch_is_in_kafka_keyed_by_the_person_with_its_source(
        settings: Settings, topics: Topics, device: Device, gateway: str) -> None:
    batch = scans(settings, 5)
    answer = GatewayClient(gateway, device.device_id, TOKEN).send(batch)
    assert answer.acknowledged == [s["event_id"] for s in batch] and not answer.refused
    messages = list(read_to_end(settings.kafka_bootstrap, topics.scans_raw.name))
    found = [(key, RawScan.from_bytes(record)) for key, value, _, _ in messages for record in unpack(value)]
    assert [str(scan.event_id) for _, scan in found] == answer.acknowledged
    # Keyed by the person the code names (one person: one envelope), so the worker pairs
    # each scan without another hop.
    person = load_codec(settings).decode(batch[0]["person_qr"], expect="P").entity_id
    assert {key for key, _ in found} == {person.encode()} and len(messages) < len(found)
    assert all(s.source is ScanSource.station and s.device_id == device.device_id for _, s in found)


@pytest.mark.kafka
def test_a_resent_batch_is_accepted_again_with_the_same_event_ids(
        settings: Settings, device: Device, gateway: str) -> None:
    client = GatewayClient(gateway, device.device_id, TOKEN)
    batch = scans(settings, 3)
    assert client.send(batch).acknowledged == client.send(batch).acknowledged


@pytest.mark.kafka
def test_a_wrong_token_or_a_wrong_url_needs_the_operator(settings: Settings, device: Device, gateway: str) -> None:
    with pytest.raises(OperatorNeeded, match="token"):
        GatewayClient(gateway, device.device_id, "not-the-token").send(scans(settings, 1))
    with pytest.raises(OperatorNeeded, match="URL"):
        GatewayClient(gateway + "/somewhere", device.device_id, TOKEN).send(scans(settings, 1))


@pytest.mark.kafka
def test_a_backlog_the_gateway_refuses_is_set_aside_with_its_reasons_and_the_queue_goes_on(
        settings: Settings, topics: Topics, device: Device, gateway: str, tmp_path: Path) -> None:
    # Three days offline, a clock far ahead, another venue's poster read by mistake: refused
    # at once and final, so the station keeps them aside and sends the rest.
    codec, now = load_codec(settings), datetime.now(timezone.utc)
    code = codec.encode(new_id("P"))
    cases = [("too_late", now - timedelta(hours=72), None), ("future_scan", datetime(9999, 1, 1, tzinfo=timezone.utc), None),
             ("device_not_authorised", now, codec.encode(new_id("V"))), (None, now - timedelta(hours=1), None)]
    outbox = Outbox(tmp_path / "station.sqlite")
    for _, at, venue_qr in cases * 50:
        body = {"event_id": str(uuid.uuid4()), "person_qr": code, "direction": "in", "scanned_at": at.isoformat()}
        if venue_qr:
            body["venue_qr"] = venue_qr
        outbox.put(body["event_id"], json.dumps(body))
    sender = Sender(outbox, GatewayClient(gateway, device.device_id, TOKEN), batch_size=100, batch_seconds=0)
    sender.start()
    try:
        assert sender.wait_until_empty(timeout=60)
    finally:
        sender.stop()
    refused = outbox.refused()
    assert sorted({reason for _, reason, _ in refused}) == ["device_not_authorised", "future_scan", "too_late"]
    assert len(refused) == 150 and (sender.sent, sender.refused) == (50, 150)
    published = {str(RawScan.from_bytes(record).event_id) for _, v, _, _ in
                 read_to_end(settings.kafka_bootstrap, topics.scans_raw.name) for record in unpack(v)}
    assert len(published) == 50 and not published & {event_id for event_id, _, _ in refused}
    outbox.close()


@pytest.mark.kafka
@pytest.mark.parametrize("output", ["text", "json"])
def test_the_station_shows_each_accepted_scans_declaration_status_from_the_gateways_answer(
        settings: Settings, topics: Topics, device: Device, gateway: str, tmp_path: Path, output: str) -> None:
    codec, now = load_codec(settings), datetime.now(timezone.utc)
    sick, undeclared = new_id("P"), new_id("P")
    declaration = Declaration(person_id=sick, declared_on=now.date(), declared_at=now - timedelta(minutes=5),
                              symptoms=[Symptom.fever], travel="Huế", declared_by=DeclaredBy.cli)
    produce_all(reliable_producer(settings.kafka_bootstrap), topics.declarations.name,
                [(sick.encode(), declaration.to_bytes())])
    client, deadline = GatewayClient(gateway, device.device_id, TOKEN), time.monotonic() + 30
    while time.monotonic() < deadline:  # the gateway tails the topic: until it has read it
        probe = {"event_id": str(uuid.uuid4()), "person_qr": codec.encode(sick), "direction": "in"}
        if client.send([probe]).declarations[probe["event_id"]][0] == "symptoms":
            break
        time.sleep(0.2)
    outbox, out = Outbox(tmp_path / "station.sqlite"), io.StringIO()
    sender = Sender(outbox, GatewayClient(gateway, device.device_id, TOKEN), batch_size=100, batch_seconds=0)
    station = Station(device_id=device.device_id, mode=GateMode.entry, checker=CodeChecker(codec), outbox=outbox,
                      sender=sender, out=out, output=output, beep=False)
    assert station.run([codec.encode(sick), codec.encode(undeclared)]) == 0
    sender.stop()
    outbox.close()
    lines = out.getvalue().splitlines()
    if output == "json":
        shown = {a["person_id"]: (a["declaration"], a["colour"]) for a in map(json.loads, lines) if "declaration" in a}
        assert shown == {sick: ("symptoms", "red"), undeclared: ("none", "grey")}
    else:
        assert f"    …{sick[-4:]}  khai báo y tế / declaration: symptoms (red)" in lines
        assert f"    …{undeclared[-4:]}  khai báo y tế / declaration: none (grey)" in lines
    assert "Huế" not in out.getvalue() and "fever" not in out.getvalue()  # a word and a colour, never the answers
