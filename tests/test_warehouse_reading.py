"""Reading the embedded warehouse while the sink holds it: through its local endpoint,
which needs the token from the state file, answers what the door admits, and takes no
writes at all; a personal read's audit row is the sink's own, with the account it sees.
Without a live sink, readers open chdb directly."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.settings import Settings
from pipeline.sink.endpoint import Endpoint
from pipeline.sink.peer import loopback_peer_account
from pipeline.warehouse import WarehouseError, open_for_reading, open_warehouse
from pipeline.warehouse.connect import running_sink
from pipeline.warehouse.door import local_account
from pipeline.warehouse.embedded import EmbeddedWarehouse
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.via_sink import SinkClient, read_state, state_path


@pytest.fixture
def served(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data", clickhouse_url=None, sink_port=0)
    warehouse = open_warehouse(settings)
    migrate(warehouse, 30)
    endpoint = Endpoint(warehouse, settings.data_dir, 0)
    endpoint.start()
    try:
        yield settings, warehouse
    finally:
        endpoint.stop()
        warehouse.close()


def test_a_running_sink_serves_read_only_queries_to_its_token_holders(served) -> None:
    settings, warehouse = served
    client = running_sink(settings)
    assert isinstance(client, SinkClient)
    assert client.query("SELECT {n:UInt8} + 1 AS n", {"n": 41}).rows == [[42]]
    assert oct(state_path(settings.data_dir).stat().st_mode & 0o777) == "0o600"
    with pytest.raises(WarehouseError, match="INSERT statement"):
        client.query("INSERT INTO areas (area_id) VALUES ('99')")
    stranger = SinkClient(replace(read_state(settings.data_dir), token="guessed"))
    with pytest.raises(WarehouseError, match="token"):
        stranger.query("SELECT 1")


def test_the_sink_takes_no_writes_not_even_audit_rows_with_an_actor_of_the_callers_choice(served) -> None:
    settings, warehouse = served
    client = running_sink(settings)
    with pytest.raises(WarehouseError, match="takes no writes"):
        client.insert("audit_log", ["actor", "action"], [["someone-else", "test"]])
    state = read_state(settings.data_dir)
    request = urllib.request.Request(  # the route that took them is gone
        state.url + "/insert", method="POST", data=json.dumps(
            {"table": "audit_log", "rows": '{"actor": "someone-else"}'}).encode(),
        headers={"Authorization": f"Bearer {state.token}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 404
    assert warehouse.query("SELECT count() FROM system.tables WHERE name = 'audit_log'").scalar() == 1
    assert audit_rows(warehouse) == []


def test_a_personal_read_through_the_sink_is_audited_by_the_sink_with_the_account_it_sees(served) -> None:
    settings, warehouse = served
    someone = "P" + "B" * 14
    warehouse.insert("personal_data", ["person_id", "full_name", "phone", "kafka_offset"],
                     [[someone, "Trần Thị Bình", "0981234791", 1]])
    client = running_sink(settings)
    read = client.read_personal("personal_data_of", {"persons": [someone]}, action="trace_with_names",
                                subject=someone, detail={"on_behalf_of": "tracer-7"})
    assert read.dicts()[0]["full_name"] == "Trần Thị Bình"
    with pytest.raises(WarehouseError, match="not a query that may read personal data"):
        client.read_personal("person_visits", {"person": someone}, action="x", subject=someone, detail={})
    rows = audit_rows(warehouse)
    assert [(r[0], r[1], r[2]) for r in rows] == [(local_account(), "trace_with_names", someone)]
    assert json.loads(rows[0][3])["params"] == {"persons": [someone]}
    assert json.loads(rows[0][3])["claimed"] == {"on_behalf_of": "tracer-7"}


def audit_rows(warehouse: EmbeddedWarehouse) -> list:
    """The audit trail without the rows of its own reads."""
    trail = warehouse.read_personal("audit_trail", {}, action="audit_trail", subject="", detail={})
    return [row[1:] for row in trail.rows if row[2] != "audit_trail"]


def test_without_a_live_sink_readers_open_the_warehouse_directly(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", clickhouse_url=None)
    settings.data_dir.mkdir(parents=True)
    state_path(settings.data_dir).write_text(json.dumps(  # left by a sink that was killed
        {"pid": 2 ** 22 + 7, "port": 9, "warehouse": str(settings.warehouse_dir.resolve()), "token": "x"}))
    assert running_sink(settings) is None
    with open_for_reading(settings) as warehouse:
        assert isinstance(warehouse, EmbeddedWarehouse)
        assert warehouse.query("SELECT 1").rows == [[1]]


def test_the_account_on_the_other_end_of_a_loopback_connection_is_the_kernels_word() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()) as client:
        accepted, (_, client_port) = server.accept()
        with accepted:
            assert loopback_peer_account(client_port, server.getsockname()[1]) == local_account()
    assert loopback_peer_account(1, 2) is None  # no such connection
