"""Slow and stalled clients against a real `ravao gateway` (raw sockets on loopback): a
body is read only after the request was admitted, and within a time limit, so stalled
uploads cannot hold the gateway while other devices send."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest

from conftest import TEST_QR_KEYS
from gateway_helpers import Stack, register, start_gateway, stop_gateway
from pipeline.kafka_io import ensure_topics
from pipeline.settings import Settings
from pipeline.topics import topics_for

pytestmark = pytest.mark.kafka
BODY_TIMEOUT = 2.0
HEAD_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def gateway(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    home = tmp_path_factory.mktemp("gateway-slow")
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"l{uuid.uuid4().hex[:10]}.",
                        topic_partitions=3, data_dir=home / "data", qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    stack = register(settings)
    process, base = start_gateway(settings, home, RAVAO_GATEWAY_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
                                  RAVAO_GATEWAY_HEAD_TIMEOUT_SECONDS=str(HEAD_TIMEOUT))
    try:
        yield stack, base
    finally:
        assert stop_gateway(process) == 0


def stalled(base: str, authorization: str, path: str = "/api/v1/scans", length: int = 400,
            sent: bytes = b'{"event_id": ') -> socket.socket:
    """A connection that sends the headers of a POST and the start of its body, then nothing."""
    url = urlparse(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    head = (f"POST {path} HTTP/1.1\r\nHost: {url.hostname}\r\nContent-Type: application/json\r\n"
            f"Authorization: {authorization}\r\nContent-Length: {length}\r\n\r\n").encode()
    sock.sendall(head + sent)
    return sock


def answer(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def hung_up_silently(sock: socket.socket) -> bool:
    """The gateway closed the connection without a byte of answer (a reset counts: it
    closes with the client's unread lines in its buffer)."""
    try:
        return answer(sock) == b""
    except ConnectionResetError:
        return True


def test_stalled_bodies_are_dropped_after_the_body_timeout_while_a_normal_request_gets_through(
        gateway: tuple[Stack, str]) -> None:
    stack, base = gateway
    authorization = stack.bearer(stack.station)["Authorization"]
    sockets = [stalled(base, authorization) for _ in range(8)]
    started = time.monotonic()
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            response = http.post("/api/v1/scans", json={"event_id": str(uuid.uuid4()), "person_qr": stack.codes[0]},
                                 headers=stack.bearer(stack.guard))
        assert response.status_code == 200 and response.json()["status"] == "accepted", response.text
        assert time.monotonic() - started < BODY_TIMEOUT, "a normal request waited for the stalled ones"
        for sock in sockets:
            reply = answer(sock)  # the gateway answers and closes: recv sees the end
            assert reply.startswith(b"HTTP/1.1 408") and b'"body_timeout"' in reply, reply[:200]
        assert time.monotonic() - started < BODY_TIMEOUT + 10
    finally:
        for sock in sockets:
            sock.close()


def test_a_body_is_not_read_before_the_device_is_authenticated(gateway: tuple[Stack, str]) -> None:
    stack, base = gateway
    sock = stalled(base, f"Bearer {stack.guard[0]}:not-the-token", sent=b"")
    try:
        started = time.monotonic()
        reply = answer(sock)
        assert reply.startswith(b"HTTP/1.1 401") and b'"bad_token"' in reply, reply[:200]
        assert time.monotonic() - started < BODY_TIMEOUT, "the gateway waited for the body of an unknown client"
    finally:
        sock.close()


def test_a_self_checkin_over_its_address_limit_is_refused_before_its_body(gateway: tuple[Stack, str]) -> None:
    stack, base = gateway
    with httpx.Client(base_url=base, timeout=30, headers={"X-Forwarded-For": "10.66.2.1"}) as http:
        statuses = [http.post("/api/v1/checkins", content=b"{}", headers={"Content-Type": "application/json"})
                    .status_code for _ in range(40)]
    assert 429 in statuses, statuses
    url = urlparse(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    try:
        sock.sendall(f"POST /api/v1/checkins HTTP/1.1\r\nHost: {url.hostname}\r\nX-Forwarded-For: 10.66.2.1\r\n"
                     "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n".encode())
        started = time.monotonic()
        reply = answer(sock)
        assert reply.startswith(b"HTTP/1.1 429") and b"Retry-After" in reply.replace(b"retry-after", b"Retry-After")
        assert time.monotonic() - started < BODY_TIMEOUT
    finally:
        sock.close()


def test_connections_that_never_finish_a_request_head_are_closed_while_a_normal_request_gets_through(
        gateway: tuple[Stack, str]) -> None:
    """1,100 connections sending nothing, or a request line and then nothing, once held the
    gateway: every other client got 503. A byte now and then does not keep one open."""
    stack, base = gateway
    url = urlparse(base)
    silent = [socket.create_connection((url.hostname, url.port), timeout=30) for _ in range(5)]
    started_heads = [socket.create_connection((url.hostname, url.port), timeout=30) for _ in range(5)]
    for sock in started_heads:
        sock.sendall(f"POST /api/v1/scans HTTP/1.1\r\nHost: {url.hostname}\r\n".encode())
    trickle = socket.create_connection((url.hostname, url.port), timeout=30)
    started = time.monotonic()
    try:
        trickle.sendall(b"GET /healthz HTTP/1.1\r\n")
        try:
            for _ in range(4):  # a header line every half head timeout, until the gateway hangs up
                time.sleep(HEAD_TIMEOUT / 2)
                trickle.sendall(b"X-Slow: 1\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/healthz").status_code == 200
        for sock in silent + started_heads + [trickle]:
            assert hung_up_silently(sock), "the gateway answered a request it never got"
        assert time.monotonic() - started < HEAD_TIMEOUT + 10
    finally:
        for sock in silent + started_heads + [trickle]:
            sock.close()


def test_a_keep_alive_connection_serves_requests_that_come_in_time(gateway: tuple[Stack, str]) -> None:
    _, base = gateway
    with httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(3):
            assert http.get("/healthz").status_code == 200
            time.sleep(HEAD_TIMEOUT / 4)
