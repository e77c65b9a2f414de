"""Reading the embedded warehouse while the sink holds it: through its local endpoint,
which needs the token from the state file, answers read-only SQL, and takes no writes
but audit rows. Without a live sink, readers open chdb directly."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.settings import Settings
from pipeline.sink.endpoint import Endpoint
from pipeline.warehouse import WarehouseError, open_for_reading, open_warehouse
from pipeline.warehouse.connect import running_sink
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
    with pytest.raises(WarehouseError, match="readonly"):
        client.query("INSERT INTO areas (area_id) VALUES ('99')")
    with pytest.raises(WarehouseError, match="only audit_log"):
        client.insert("personal_data", ["person_id"], [["P" + "B" * 14]])
    client.insert("audit_log", ["actor", "action"], [["me", "test"]])
    assert warehouse.query("SELECT actor FROM audit_log").rows == [["me"]]
    stranger = SinkClient(replace(read_state(settings.data_dir), token="guessed"))
    with pytest.raises(WarehouseError, match="token"):
        stranger.query("SELECT 1")


def test_without_a_live_sink_readers_open_the_warehouse_directly(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", clickhouse_url=None)
    settings.data_dir.mkdir(parents=True)
    state_path(settings.data_dir).write_text(json.dumps(  # left by a sink that was killed
        {"pid": 2 ** 22 + 7, "port": 9, "warehouse": str(settings.warehouse_dir.resolve()), "token": "x"}))
    assert running_sink(settings) is None
    with open_for_reading(settings) as warehouse:
        assert isinstance(warehouse, EmbeddedWarehouse)
        assert warehouse.query("SELECT 1").rows == [[1]]
