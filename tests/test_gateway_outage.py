"""The gateway never acknowledges a scan that Kafka does not have: batches sent while the
broker is stopped are either acknowledged after it is back, or refused with a retryable
503 and Retry-After, and then go through when sent again with the same event ids."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from conftest import TEST_QR_KEYS
from gateway_helpers import published, register, start_gateway, stop_gateway
from pipeline.kafka_io import ensure_topics
from pipeline.kafka_local import LocalKafka
from pipeline.settings import Settings
from pipeline.topics import topics_for

ACK_TIMEOUT = 6


def batch(code: str, n: int) -> dict:
    return {"scans": [{"event_id": str(uuid.uuid4()), "person_qr": code} for _ in range(n)]}


@pytest.mark.kafka
def test_batches_sent_while_the_broker_is_down_are_acknowledged_after_recovery_or_refused_as_retryable(
        tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "kafka")  # a broker of its own: this test stops it
    state = broker.start()
    gateway = None
    try:
        settings = Settings(kafka_bootstrap=state.bootstrap, topic_prefix="outage.", topic_partitions=3,
                            data_dir=tmp_path / "data", qr_keys=TEST_QR_KEYS)
        ensure_topics(state.bootstrap, topics_for(settings).all())
        stack = register(settings)
        gateway, base = start_gateway(settings, tmp_path, RAVAO_GATEWAY_ACK_TIMEOUT_SECONDS=str(ACK_TIMEOUT))
        headers = stack.bearer(stack.station)
        http = httpx.Client(base_url=base, timeout=120, headers=headers)
        assert http.post("/api/v1/scans/batch", json=batch(stack.codes[0], 50)).status_code == 200

        broker.stop()
        answers: dict[int, tuple[dict, httpx.Response]] = {}

        def send(index: int, delay: float) -> None:
            time.sleep(delay)
            body = batch(stack.codes[index % 3], 200)
            with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
                answers[index] = (body, client.post("/api/v1/scans/batch", json=body))

        # Sent at once (longer down than the ack timeout) and a while later (shorter).
        senders = [threading.Thread(target=send, args=(i, delay)) for i, delay in enumerate((0, 0.5, 3, 5))]
        for sender in senders:
            sender.start()
        time.sleep(4)
        broker.start()
        for sender in senders:
            sender.join(180)
        assert len(answers) == 4

        acknowledged: set[str] = set()
        outcomes = []
        for body, response in answers.values():
            outcomes.append(response.status_code)
            assert response.status_code in (200, 503), response.text
            deadline = time.monotonic() + 120
            while response.status_code == 503:
                assert response.json()["error"] == "kafka_unavailable"
                assert int(response.headers["Retry-After"]) >= 1
                assert time.monotonic() < deadline, "the gateway did not recover"
                time.sleep(1)
                response = http.post("/api/v1/scans/batch", json=body)  # the same event ids
            assert response.status_code == 200, response.text
            assert response.json()["accepted"] == 200
            acknowledged |= {s["event_id"] for s in body["scans"]}

        on_topic = {str(scan.event_id) for _, scan in published(settings)}
        lost = acknowledged - on_topic
        assert not lost, f"{len(lost)} acknowledged scans are not on scans.raw (outcomes: {outcomes})"
        print(f"first answers while the broker was down: {outcomes}")
    finally:
        if gateway is not None:
            stop_gateway(gateway)
        broker.stop()
