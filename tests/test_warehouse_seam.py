"""The one use of clickhouse-connect's internals (`pipeline.warehouse.seam`): parameters
already in ClickHouse's text form reach the engine as they are, on chdb and over HTTP.
Fails when an upgrade of clickhouse-connect moves what it relies on."""

from __future__ import annotations

from pathlib import Path

import clickhouse_connect

from pipeline.sink.endpoint import Endpoint
from pipeline.warehouse.base import bind
from pipeline.warehouse.client import chdb_url
from pipeline.warehouse.opened import open_url
from pipeline.warehouse.seam import raw_query_bound

HOSTILE = "a'b\\c\td\n{x:String}"


def test_bound_parameters_pass_unchanged_through_the_chdb_and_the_http_backend(tmp_path: Path) -> None:
    warehouse = open_url(chdb_url(tmp_path / "warehouse"))
    endpoint = Endpoint(warehouse, tmp_path, 0)
    state = endpoint.start()
    try:
        chdb_client = clickhouse_connect.get_client(dsn=chdb_url(tmp_path / "warehouse"))
        http_client = clickhouse_connect.get_client(dsn=state.url_for("admin"), autogenerate_session_id=False,
                                                    compress=False)
        for client in (chdb_client, http_client):
            answer = raw_query_bound(client, "SELECT {s:String}, {n:UInt8}", bind({"s": HOSTILE, "n": 7}), "TSVRaw")
            assert answer.decode() == f"{HOSTILE}\t7\n"
            assert raw_query_bound(client, "SELECT 1", {}, None) == b"1\n"
            client.close()
    finally:
        endpoint.stop()
        warehouse.close()
