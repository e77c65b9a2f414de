"""What the station's sender does with each answer of the gateway contract (see
producers/station/gateway_client.py), against a scripted HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from producers.station.gateway_client import BATCH_PATH, GatewayClient
from producers.station.outbox import Outbox
from producers.station.sender import Sender

Answer = tuple[int, dict, dict]  # status, body, headers


class ScriptedGateway:
    """Answers each POST with ``script(event ids of the batch, request number)``."""

    def __init__(self, script: Callable[[list[str], int], Answer]) -> None:
        self.requests: list[tuple[str, list[dict]]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                scans = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["scans"]
                gateway.requests.append((self.headers["Authorization"], scans))
                status, body, headers = script([s["event_id"] for s in scans], len(gateway.requests))
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Length": str(len(data)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def batches(self) -> list[list[str]]:
        return [[s["event_id"] for s in scans] for _, scans in self.requests]


def accept_all(ids: list[str], _n: int) -> Answer:
    return 200, {"results": [{"event_id": i, "status": "accepted"} for i in ids]}, {}


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    box = Outbox(tmp_path / "station.sqlite")
    for n in range(8):
        box.put(f"e{n}", json.dumps({"event_id": f"e{n}", "person_qr": "RV", "direction": "in",
                                     "scanned_at": f"2021-10-25T08:00:0{n}+07:00"}))
    return box


def run(outbox: Outbox, gateway: ScriptedGateway, statuses: list[str] | None = None, batch_size: int = 8,
        until_empty: bool = True) -> Sender:
    sender = Sender(outbox, GatewayClient(gateway.url, "DBBBBBBBBBBBBBB", "tok", timeout=5), batch_size=batch_size,
                    batch_seconds=0, retry_max=0.05, on_status=(statuses if statuses is not None else []).append)
    sender.start()
    if until_empty:
        assert sender.wait_until_empty(20)
    return sender


def test_it_sends_the_queue_in_order_with_the_device_credentials_and_the_read_times(outbox: Outbox) -> None:
    gateway = ScriptedGateway(accept_all)
    run(outbox, gateway, batch_size=3).stop()
    assert gateway.batches == [["e0", "e1", "e2"], ["e3", "e4", "e5"], ["e6", "e7"]]
    auth, scans = gateway.requests[0]
    assert auth == "Bearer DBBBBBBBBBBBBBB:tok"
    assert scans[1]["scanned_at"] == "2021-10-25T08:00:01+07:00" and scans[1]["sent_at"]
    assert set(scans[0]) == {"event_id", "person_qr", "direction", "scanned_at", "sent_at"}


def test_it_retries_the_same_batch_while_the_gateway_says_later(outbox: Outbox) -> None:
    def script(ids: list[str], n: int) -> Answer:
        if n <= 2:
            return 503, {"error": "kafka_unavailable", "message": "Kafka is away"}, {"Retry-After": "0"}
        if n == 3:
            return 429, {"error": "rate_limited"}, {"Retry-After": "0"}
        return accept_all(ids, n)

    gateway = ScriptedGateway(script)
    statuses: list[str] = []
    run(outbox, gateway, statuses).stop()
    assert gateway.batches == [[f"e{n}" for n in range(8)]] * 4
    assert "Kafka is away" in statuses[0] and "takes scans again" in statuses[-1]


def test_a_refused_token_pauses_sending_and_keeps_every_scan(outbox: Outbox) -> None:
    gateway = ScriptedGateway(lambda ids, n: (401, {"error": "bad_token", "message": "wrong token"}, {}))
    statuses: list[str] = []
    sender = run(outbox, gateway, statuses, until_empty=False)
    assert not sender.wait_until_empty(1)
    sender.stop()
    assert outbox.count() == 8 and "does not accept this station's token" in statuses[0]


def test_a_batch_too_large_is_sent_in_halves(outbox: Outbox) -> None:
    gateway = ScriptedGateway(lambda ids, n: (413, {}, {}) if len(ids) > 4 else accept_all(ids, n))
    run(outbox, gateway).stop()
    assert [len(b) for b in gateway.batches] == [8, 4, 4]


def test_a_scan_the_gateway_cannot_take_is_isolated_and_set_aside(outbox: Outbox) -> None:
    gateway = ScriptedGateway(lambda ids, n: (422, {"message": "bad"}, {}) if "e5" in ids else accept_all(ids, n))
    run(outbox, gateway).stop()
    delivered = [i for batch in gateway.batches if "e5" not in batch for i in batch]  # answered 200
    assert delivered == ["e0", "e1", "e2", "e3", "e4", "e6", "e7"]
    assert [(e, r) for e, r, _ in outbox.refused()] == [("e5", "http_422")]


def test_per_scan_answers_remove_accepted_set_aside_refused_and_resend_the_unanswered(outbox: Outbox) -> None:
    def script(ids: list[str], n: int) -> Answer:
        if n == 1:
            return 200, {"results": [{"event_id": "e0", "status": "accepted"},
                                     {"event_id": "e1", "status": "refused", "reason": "bad_signature"}]}, {}
        return accept_all(ids, n)

    gateway = ScriptedGateway(script)
    run(outbox, gateway).stop()
    assert gateway.batches[1] == [f"e{n}" for n in range(2, 8)]
    assert [(e, r) for e, r, _ in outbox.refused()] == [("e1", "bad_signature")]


def test_the_client_posts_to_the_batch_path() -> None:
    assert GatewayClient("http://gw:8080/", "D", "t").url == "http://gw:8080" + BATCH_PATH
