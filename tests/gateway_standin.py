"""A test-only stand-in for the gateway's batch and self check-in endpoints, run as a
subprocess:

    python tests/gateway_standin.py --port P [--ack-delay S]    (settings from RAVAO_*)

It follows the contract in `producers/station/gateway_client.py`: device auth by
``Bearer <device id>:<token>`` against the registry's token hashes, and a 200 with one
result per scan only after Kafka acknowledged them (published for real to scans.raw
with confluent-kafka, keyed by device id). ``--ack-delay`` holds the answer after Kafka
has the scans, so a test can kill a station while an acknowledged batch is unanswered.

TODO: once `ravao gateway` (producers/gateway) serves POST /api/v1/scans/batch for good, run the
station tests and tests/test_station_contract.py against it and delete this file.
The real gateway's answers carry more fields (show, name, message); the station reads
only event_id, status and reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import ValidationError  # noqa: E402

from producers.station.gateway_client import BATCH_PATH, CHECKIN_PATH  # noqa: E402
from pipeline.kafka_io import DeliveryFailed, produce_all, reliable_producer  # noqa: E402
from pipeline.registry import read_latest  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.topics import topics_for  # noqa: E402
from schemas.registry import Device, DeviceKind  # noqa: E402
from schemas.scans import RawScan, ScanSource  # noqa: E402

settings = Settings()
topics = topics_for(settings)
producer = reliable_producer(settings.kafka_bootstrap, **{"message.timeout.ms": 10_000})
publish_lock = threading.Lock()
devices: dict[str, Device] = {}
ack_delay = 0.0


def device_for(device_id: str) -> Device | None:
    if device_id not in devices:  # registered a moment ago: read the registry again
        devices.update(read_latest(settings.kafka_bootstrap, topics.devices, Device))
    return devices.get(device_id)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == CHECKIN_PATH:
            return self.checkin(body)
        if self.path != BATCH_PATH:
            return self.answer(404, {"error": "not_found", "message": self.path})
        device_id, _, token = self.headers.get("Authorization", "").removeprefix("Bearer ").partition(":")
        device = device_for(device_id)
        if device is None or hashlib.sha256(token.encode()).hexdigest() != device.token_sha256:
            return self.answer(401, {"error": "bad_token", "message": "unknown device or wrong token"})
        try:
            scans = json.loads(body)["scans"]
            assert isinstance(scans, list) and 1 <= len(scans) <= 500
        except (ValueError, KeyError, TypeError, AssertionError):
            return self.answer(422, {"error": "invalid_request", "message": "expected {'scans': [1..500]}"})
        source = ScanSource.station if device.kind is DeviceKind.reader_station else ScanSource.staff
        results, messages = [], []
        for item in scans:
            try:
                raw = RawScan(source=source, device_id=device_id, **item)
            except (ValidationError, TypeError):
                results.append({"event_id": str(item.get("event_id")), "status": "refused", "reason": "invalid_scan"})
                continue
            messages.append((device_id.encode(), raw.to_bytes()))
            results.append({"event_id": str(raw.event_id), "status": "accepted"})
        try:
            with publish_lock:
                produce_all(producer, topics.scans_raw.name, messages, timeout=10)
        except DeliveryFailed as exc:
            return self.answer(503, {"error": "kafka_unavailable", "message": str(exc)}, {"Retry-After": "1"})
        time.sleep(ack_delay)
        self.answer(200, {"accepted": len(messages), "refused": len(scans) - len(messages), "results": results})

    def checkin(self, body: bytes) -> None:
        """A self check-in (no device): published keyed by the person's code."""
        try:
            raw = RawScan(source=ScanSource.self_checkin, **json.loads(body))
        except (ValueError, TypeError):
            return self.answer(422, {"error": "invalid_request", "message": "not a self check-in"})
        try:
            with publish_lock:
                produce_all(producer, topics.scans_raw.name, [(raw.person_qr.encode(), raw.to_bytes())], timeout=10)
        except DeliveryFailed as exc:
            return self.answer(503, {"error": "kafka_unavailable", "message": str(exc)}, {"Retry-After": "1"})
        self.answer(200, {"event_id": str(raw.event_id), "status": "accepted"})

    def answer(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                            **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ack-delay", type=float, default=0.0)
    args = parser.parse_args()
    ack_delay = args.ack_delay
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    server.serve_forever()
