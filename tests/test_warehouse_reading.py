"""Reading the embedded warehouse while the sink holds it: through its door (ClickHouse's
HTTP interface on 127.0.0.1), which needs the password of an account from the state
file, answers what the door admits, and takes no writes at all. Without a live sink,
readers open chdb directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from pipeline.settings import Settings
from pipeline.sink.endpoint import Endpoint
from pipeline.sink.state import read_state, state_path
from pipeline.warehouse import WarehouseError, open_for_reading, open_warehouse
from pipeline.warehouse.connect import running_sink
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.opened import open_url


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


def test_a_running_sink_serves_read_only_queries_to_its_accounts(served) -> None:
    settings, warehouse = served
    client = running_sink(settings)
    assert client is not None and not client.embedded
    assert client.query("SELECT {n:UInt8} + 1 AS n", {"n": 41}).rows == [[42]]
    assert oct(state_path(settings.data_dir).stat().st_mode & 0o777) == "0o600"
    state = read_state(settings.data_dir)
    assert set(state.passwords) == {"admin", "web", "alerts"} and len(set(state.passwords.values())) == 3
    with pytest.raises(WarehouseError, match="INSERT statement"):
        client.query("INSERT INTO areas (area_id) VALUES ('99')")
    with pytest.raises(WarehouseError, match="AUTHENTICATION_FAILED"):
        open_url(f"http://admin:guessed@127.0.0.1:{state.port}/default", door_is_remote=True)
    for account in ("web", "alerts"):
        with open_for_reading(settings, account=account) as reader:
            assert reader.location == f"http://{account}:***@127.0.0.1:{state.port}/default"
            assert reader.query("SELECT count() FROM scans").scalar() == 0
    client.close()


def test_the_door_takes_no_writes_from_anyone(served) -> None:
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import DatabaseError

    settings, warehouse = served
    client = running_sink(settings)
    with pytest.raises(WarehouseError, match="takes no writes"):
        client.insert("audit_log", ["actor", "action"], [["someone-else", "test"]])
    with pytest.raises(WarehouseError, match="takes no writes"):
        client.command("DROP TABLE scans")
    client.close()
    plain = clickhouse_connect.get_client(dsn=read_state(settings.data_dir).url_for("admin"),
                                          autogenerate_session_id=False, compress=False)
    try:
        for attempt in (lambda: plain.insert("audit_log", [["someone-else", "test"]], column_names=["actor", "action"]),
                        lambda: plain.command("DROP TABLE scans"),
                        lambda: plain.command("SET readonly = 0")):
            with pytest.raises(DatabaseError, match="refused: "):
                attempt()
    finally:
        plain.close()
    assert warehouse.query("SELECT count() FROM system.tables WHERE name IN ('audit_log', 'scans')").scalar() == 2
    assert warehouse.read_personal("audit_trail", {"person": "", "actor": ""}, action="audit_trail", subject="", detail={}).rows == []


def test_a_personal_read_writes_no_audit_row_of_its_own(served) -> None:
    """The audit record is the caller's (pipeline.access, through Kafka), not the warehouse's."""
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
    client.close()
    assert warehouse.read_personal("audit_trail", {"person": "", "actor": ""}, action="audit_trail", subject="", detail={}).rows == []


def test_without_a_live_sink_readers_open_the_warehouse_directly(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", clickhouse_url=None)
    settings.data_dir.mkdir(parents=True)
    state_path(settings.data_dir).write_text(json.dumps(  # left by a sink that was killed
        {"pid": 2 ** 22 + 7, "port": 9, "warehouse": str(settings.warehouse_dir.resolve()),
         "passwords": {"admin": "x"}}))
    assert running_sink(settings) is None
    with open_for_reading(settings) as warehouse:
        assert warehouse.embedded
        assert warehouse.query("SELECT 1").rows == [[1]]


def test_ravao_warehouse_url_prints_the_doors_url_without_its_password_unless_asked(served) -> None:
    settings, _ = served
    env = {**os.environ, "RAVAO_DATA_DIR": str(settings.data_dir)}
    env.pop("RAVAO_CLICKHOUSE_URL", None)
    state = read_state(settings.data_dir)

    def url(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "pipeline", "warehouse", "url", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert url() == f"http://admin@127.0.0.1:{state.port}/default"
    assert state.passwords["admin"] not in url()
    assert url("--show-password") == state.url_for("admin")


def test_a_service_follows_the_sink_across_restarts_and_never_opens_chdb_itself(tmp_path: Path) -> None:
    from pipeline.warehouse import WarehouseUnavailable
    from pipeline.warehouse.connect import ServiceWarehouse

    settings = Settings(data_dir=tmp_path / "data", clickhouse_url=None, sink_port=0)
    service = ServiceWarehouse(settings, "web")
    with pytest.raises(WarehouseUnavailable, match="the sink is not running"):
        service.query("SELECT 1")
    assert not settings.warehouse_dir.exists(), "the service opened the warehouse itself"
    warehouse = open_warehouse(settings)
    migrate(warehouse, 30)
    try:
        for _ in range(2):  # a sink's start, then its restart: another port, other passwords
            endpoint = Endpoint(warehouse, settings.data_dir, 0)
            endpoint.start()
            try:
                assert service.query("SELECT count() AS n FROM areas").rows == [[0]]
                assert "127.0.0.1" in service.location
            finally:
                endpoint.stop()
            with pytest.raises(WarehouseUnavailable):
                service.query("SELECT 1")
    finally:
        service.close()
        warehouse.close()
