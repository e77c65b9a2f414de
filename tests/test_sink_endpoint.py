"""The embedded sink's door under a hostile client: bodies it cannot be made to read
without end, requests it answers with 400 rather than a stack trace, and long reads that
hold up only themselves (raw sockets and threads on loopback, real chdb)."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pipeline.sink.endpoint import MAX_BODY, Endpoint
from pipeline.sink.state import SinkState
from pipeline.warehouse import Warehouse
from pipeline.warehouse.client import chdb_url
from pipeline.warehouse.door import read_settings
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.opened import open_url

# Each row costs the engine about a second here, inside one block: the time limit, checked
# between blocks, cannot stop it early.
SLOW = "SELECT sum(editDistance(repeat('a', 15000), repeat(toString(number % 10), 15000))) FROM numbers({rows})"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Warehouse, SinkState]]:
    data = tmp_path_factory.mktemp("endpoint")
    warehouse = open_url(chdb_url(data / "warehouse"), read_settings(120, 1000, 16 * 1024 ** 2, 256 * 1024 ** 2))
    migrate(warehouse, 30)
    served = Endpoint(warehouse, data, 0)
    state = served.start()
    try:
        yield warehouse, state
    finally:
        served.stop()
        warehouse.close()


def raw_request(state: SinkState, head: str, body: bytes = b"", timeout: float = 30) -> bytes:
    """What the door answers; it may answer and hang up before the body is sent (that is
    the point), so sending stops there and the answer is read as far as it came."""
    with socket.create_connection(("127.0.0.1", state.port), timeout=timeout) as sock:
        chunks = []
        try:
            sock.sendall(head.encode() + b"\r\n")
            for start in range(0, len(body), 65536):
                sock.sendall(body[start:start + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:  # it answered and closed with our unread bytes in its buffer
            pass
        return b"".join(chunks)


def post_head(state: SinkState, length: str, path: str = "/") -> str:
    basic = base64.b64encode(f"admin:{state.passwords['admin']}".encode()).decode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {basic}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {length}\r\nConnection: close\r\n")


def status(reply: bytes) -> int:
    return int(reply.split(b"\r\n")[0].split()[1])


@pytest.mark.parametrize("length", ["-1", "abc", "1e9", "+12"])
def test_a_content_length_that_is_not_a_count_of_bytes_is_refused_before_any_body_is_read(
        endpoint, length: str) -> None:
    """`Content-Length: -1` once made the sink read a 1.5 GB body to its end (RSS 3.5 GB)."""
    _, state = endpoint
    started = time.monotonic()
    reply = raw_request(state, post_head(state, length), b" " * (4 * 1024 * 1024))
    assert status(reply) == 400, reply[:200]
    assert time.monotonic() - started < 10


def test_a_body_over_the_cap_is_refused_by_its_declared_length_before_it_is_read(endpoint) -> None:
    _, state = endpoint
    started = time.monotonic()
    reply = raw_request(state, post_head(state, str(MAX_BODY + 1)), b"SELECT 1 " * 1000)
    assert status(reply) == 413 and b"TOO_LARGE_STRING_SIZE" in reply, reply[:300]
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("body", [b'{"sql": "SELECT 1", "params": {}}', b"{{{{{", b"[" * 5000,
                                  b"\xff\xfe SELECT 1", b"SELECT 1; SELECT 2", b"please show me everything"])
def test_a_body_that_is_not_one_statement_gets_400_in_clickhouses_shape_not_a_stack_trace(endpoint, body) -> None:
    _, state = endpoint
    reply = raw_request(state, post_head(state, str(len(body))), body)
    assert status(reply) == 400, reply[:300]
    head, _, text = reply.partition(b"\r\n\r\n")
    assert b"x-clickhouse-exception-code:" in head.lower() and text.startswith(b"Code: "), reply[:300]


def test_a_client_that_stops_sending_its_body_is_dropped_and_the_door_keeps_answering(endpoint, monkeypatch) -> None:
    from pipeline.sink import endpoint as door_module

    monkeypatch.setattr(door_module, "SOCKET_TIMEOUT", 1.0)
    _, state = endpoint
    started = time.monotonic()
    reply = raw_request(state, post_head(state, "1000"), b"SELECT ", timeout=20)  # 993 bytes never come
    assert status(reply) == 500 and b"TIMEOUT_EXCEEDED" in reply, reply[:300]
    assert time.monotonic() - started < 10
    with open_url(state.url_for("admin"), door_is_remote=True) as client:
        assert client.query("SELECT 3 AS x").rows == [[3]]


def test_more_connections_than_the_door_serves_at_once_get_503_until_they_go(endpoint) -> None:
    from pipeline.sink.endpoint import MAX_REQUESTS

    _, state = endpoint
    ping = "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    held = [socket.create_connection(("127.0.0.1", state.port), timeout=10) for _ in range(MAX_REQUESTS)]
    try:
        for sock in held:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # a request that never ends
        time.sleep(0.3)
        assert status(raw_request(state, ping)) == 503
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert status(raw_request(state, ping)) == 200


def test_connections_that_never_send_a_request_are_dropped_so_they_cannot_hold_the_door(
        endpoint, monkeypatch) -> None:
    from pipeline.sink import endpoint as door_module
    from pipeline.sink.endpoint import MAX_REQUESTS

    monkeypatch.setattr(door_module, "SOCKET_TIMEOUT", 1.0)
    _, state = endpoint
    held = [socket.create_connection(("127.0.0.1", state.port), timeout=10) for _ in range(MAX_REQUESTS)]
    try:
        held[0].sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0")  # half a head; the others send nothing
        time.sleep(2.5)
        assert status(raw_request(state, "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")) == 200
        assert all(sock.recv(100) == b"" for sock in held)  # closed by the door
    finally:
        for sock in held:
            sock.close()


def test_a_strangers_body_is_never_read(endpoint) -> None:
    _, state = endpoint
    started = time.monotonic()
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {MAX_BODY}\r\nConnection: close\r\n"
    reply = raw_request(state, head, b"SELECT 1 " * 1000)  # and the rest never comes
    assert status(reply) == 401 and b"AUTHENTICATION_FAILED" in reply, reply[:300]
    assert time.monotonic() - started < 5


def test_ping_answers_as_clickhouse_does(endpoint) -> None:
    _, state = endpoint
    reply = raw_request(state, "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
    assert status(reply) == 200 and reply.endswith(b"\r\n\r\nOk.\n")


def test_a_long_read_holds_up_neither_other_reads_nor_the_sinks_own(endpoint) -> None:
    """One read once held the reader session for 490 s while every other read waited."""
    warehouse, state = endpoint
    client = open_url(state.url_for("admin"), door_is_remote=True)
    finished: dict[str, float] = {}

    def slow() -> None:
        client.query(SLOW.format(rows=4))
        finished["slow"] = time.monotonic()

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        time.sleep(0.5)  # the slow read has its reader
        assert client.query("SELECT 1 AS x").rows == [[1]]
        finished["other"] = time.monotonic()
        assert warehouse.query("SELECT count() FROM sink_positions").rows == [[0]]
        finished["own"] = time.monotonic()
    finally:
        thread.join(120)
        client.close()
    assert finished["other"] < finished["slow"] and finished["own"] < finished["slow"], finished


def test_refused_and_malformed_requests_leave_the_door_answering(endpoint) -> None:
    _, state = endpoint
    for _ in range(3):
        raw_request(state, "GARBAGE\r\n")
        raw_request(state, post_head(state, "5"), b"{{{{{")
        raw_request(state, "GET /?query=SELECT%201 HTTP/1.1\r\nAuthorization: Basic !!!\r\n")
    with open_url(state.url_for("admin"), door_is_remote=True) as client:
        assert client.query("SELECT 2 AS x").rows == [[2]]


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_query_id_that_cannot_be_a_header_still_gets_an_answer_and_is_not_echoed(endpoint, signed_in) -> None:
    """A line break in `query_id` once made the door drop the connection without an answer
    and log a traceback, for anyone: the id is echoed in X-ClickHouse-Query-Id, read
    before the sign-in."""
    _, state = endpoint
    sign_in = f"&user=admin&password={state.passwords['admin']}" if signed_in else ""
    reply = raw_request(state, f"GET /?query=SELECT%201&query_id=abc%0d%0aSet-Cookie:%20x=1{sign_in} HTTP/1.1\r\n"
                               "Host: 127.0.0.1\r\nConnection: close\r\n")
    assert reply and status(reply) == (200 if signed_in else 401), reply[:300]
    head = reply.partition(b"\r\n\r\n")[0].lower()
    assert b"set-cookie" not in head and b"x-clickhouse-query-id: " in head
    kept = raw_request(state, f"GET /?query=SELECT%201&query_id=mine-1&user=admin&password="
                              f"{state.passwords['admin']} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
    assert b"x-clickhouse-query-id: mine-1\r\n" in kept.lower()


@pytest.mark.parametrize("part", [b"\xff\xfe", b"--c\r\n\r\nx\r\n--c--"], ids=["not UTF-8", "a nested multipart"])
def test_a_form_field_that_is_not_text_gets_400_not_an_internal_error(endpoint, part: bytes) -> None:
    _, state = endpoint
    nested = b"Content-Type: multipart/mixed; boundary=c\r\n" if part.startswith(b"--c") else b""
    body = (b'--b\r\nContent-Disposition: form-data; name="param_a"\r\n' + nested + b"\r\n" + part
            + b"\r\n--b--\r\n")
    head = post_head(state, str(len(body)), "/?query=SELECT%20%7Ba:String%7D").replace(
        "Content-Type: text/plain", "Content-Type: multipart/form-data; boundary=b")
    reply = raw_request(state, head, body)
    assert status(reply) == 400 and b"Code: 27." in reply, reply[:300]


@pytest.mark.parametrize("pipelined", [False, True])
def test_clients_that_do_not_take_their_answers_are_dropped_so_they_cannot_hold_the_door(
        endpoint, monkeypatch, pipelined: bool) -> None:
    """Sixteen clients that asked for a few megabytes each and never read them once held
    every place of the door (503 for everyone else) and their answers in the sink's
    memory, for as long as they liked: the door only closed them politely, which waits for
    the answer to be taken. A second request sent behind the first must not lift that."""
    from urllib.parse import urlencode

    from pipeline.sink import endpoint as door_module
    from pipeline.sink.endpoint import MAX_REQUESTS

    monkeypatch.setattr(door_module, "SOCKET_TIMEOUT", 1.0)
    _, state = endpoint
    query = urlencode({"query": "SELECT repeat('a', 1000000) FROM numbers(8)", "user": "admin",
                       "password": state.passwords["admin"]})
    request = f"GET /?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    held = []
    try:
        for _ in range(MAX_REQUESTS):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read
            sock.connect(("127.0.0.1", state.port))
            sock.sendall(request * (2 if pipelined else 1))
            held.append(sock)
        ping = "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        deadline = time.monotonic() + 30
        answered = 503
        while answered == 503 and time.monotonic() < deadline:
            time.sleep(1)
            answered = status(raw_request(state, ping))
        assert answered == 200
    finally:
        for sock in held:
            sock.close()
    with open_url(state.url_for("admin"), door_is_remote=True) as client:  # one that reads gets it all
        assert client.query("SELECT length(repeat('a', 1000000)) AS n, repeat('a', 1000000) AS s "
                            "FROM numbers(8)").rows[7][0] == 1000000
