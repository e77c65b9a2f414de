"""The sink's door speaks ClickHouse's HTTP interface as clickhouse-connect's HTTP client
uses it: what the client sends on connect and for each call is recorded and served (every
URL argument it sends is a parameter or one the door knows), answers parse as a server's
would, and errors arrive as the client's `DatabaseError` with the door's words."""

from __future__ import annotations

from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from pipeline.sink import clickhouse_http
from pipeline.sink.endpoint import Endpoint
from pipeline.warehouse.client import chdb_url
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.opened import open_url


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("http")
    warehouse = open_url(chdb_url(Path(data) / "warehouse"))
    migrate(warehouse, 30)
    endpoint = Endpoint(warehouse, data, 0)
    state = endpoint.start()
    try:
        yield warehouse, state
    finally:
        endpoint.stop()
        warehouse.close()


def test_what_clickhouse_connect_sends_is_served(door, monkeypatch) -> None:
    _, state = door
    seen: list[tuple[list[str], str]] = []
    parse = clickhouse_http.parse

    def recording(headers, arguments, body):
        arguments = list(arguments)
        request = parse(headers, arguments, body)
        seen.append(([name for name, _ in arguments], request.sql))
        return request

    monkeypatch.setattr(clickhouse_http, "parse", recording)
    client = clickhouse_connect.get_client(dsn=state.url_for("web"), autogenerate_session_id=False, compress=False)
    try:
        assert client.server_version and client.query("SELECT {n:UInt32} * 2 AS n", parameters={"n": 21}).result_rows \
            == [(42,)]
        frame = client.query_df("SELECT number, toString(number) AS s FROM numbers(3)")
        assert list(frame["s"]) == ["0", "1", "2"]
        assert client.raw_query("SELECT 1 AS x", fmt="JSONEachRow") == b'{"x":1}\n'
        assert client.command("SELECT count() FROM scans") == 0
        assert client.query("SHOW TABLES").result_rows
        with pytest.raises(DatabaseError, match="refused: the table function file"):
            client.query("SELECT * FROM file('/etc/passwd', 'LineAsString')")
    finally:
        client.close()
    connected = [sql for _, sql in seen[:3]]
    assert connected[0].startswith("SELECT version(), timezone()")
    assert connected[1].startswith("SELECT name, value, readonly FROM system.settings")
    arguments = {name for names, _ in seen for name in names}
    assert {name for name in arguments if not name.startswith("param_")} <= clickhouse_http.TRANSPORT_ARGUMENTS
    print(sorted(arguments))


def test_answers_carry_clickhouses_headers_and_formats(door) -> None:
    import urllib.request
    from urllib.parse import urlencode

    warehouse, state = door
    for fmt, expected in [("CSVWithNames", b'"x"\n1\n'), ("TSV", b"1\n"), ("JSONCompactEachRow", b"[1]\n"),
                          ("Values", b"(1)")]:
        query = urlencode({"query": f"SELECT 1 AS x FORMAT {fmt}", "user": "admin",
                           "password": state.passwords["admin"]})
        with urllib.request.urlopen(f"{state.url}/?{query}", timeout=10) as answer:
            assert answer.read() == expected
            assert answer.headers["X-ClickHouse-Format"] == fmt
            assert answer.headers["X-ClickHouse-Query-Id"] and answer.headers["X-ClickHouse-Summary"]
            assert answer.headers["X-ClickHouse-Timezone"] == warehouse.query("SELECT timezone()").scalar()
    query = urlencode({"query": "SELECT 1 AS x", "default_format": "JSONEachRow", "user": "admin",
                       "password": state.passwords["admin"]})
    assert urllib.request.urlopen(f"{state.url}/?{query}", timeout=10).read() == b'{"x":1}\n'


@pytest.mark.parametrize("fmt", ["Parquet", "CapnProto", "Protobuf", "Template", "Nope"])
def test_a_format_outside_the_list_is_refused(door, fmt: str) -> None:
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    _, state = door
    query = urlencode({"query": f"SELECT 1 FORMAT {fmt}", "user": "admin", "password": state.passwords["admin"]})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{state.url}/?{query}", timeout=10)
    assert refused.value.code == 400 and b"refused: the format" in refused.value.read()


def test_long_parameters_sent_as_a_form_reach_the_query(door) -> None:
    warehouse, state = door
    ids = [f"P{n:014d}" for n in range(3000)]  # too long for a URL: clickhouse-connect sends a form
    with open_url(state.url_for("admin"), door_is_remote=True) as reader:
        assert reader.query("SELECT length({ids:Array(String)})", {"ids": ids}).scalar() == 3000
