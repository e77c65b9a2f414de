"""Grafana's dashboards as code: the committed JSON is what the code generates, every
panel's SQL runs on a real warehouse (chdb, the migrations applied, a generated day)
once expanded as Grafana and the ClickHouse plugin expand it, the tier numbers equal a
recount of the raw scans, and the data source reads as a read-only account that cannot
reach the personal tables (the door's list)."""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import yaml

from dashboards.grafana import build, operations, readonly_user, tier
from dashboards.grafana.query import DATASOURCE_UID, PLUGIN, TIME_SERIES
from pipeline.settings import Settings
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.door import PERSONAL_TABLES
from pipeline.warehouse.grants import tables
from pipeline.warehouse.migrations import migrate
from schemas import ValidScan
from schemas.cases import Alert, venue_alert_id
from schemas.dlq import DeadLetter, RejectReason
from schemas.notifications import Notification
from warehouse_day import GeneratedDay, generate_day, load_day, load_records

PROVISIONING = build.PROVISIONING_DIR
INTERVAL_SECONDS = 300
COMMUNE, DISTRICT, PROVINCE = "25741", "718", "74"

# What each panel's query must answer, in order: Grafana reads the columns by name (field
# overrides, data links) and a time series by its `time` column.
COLUMNS = {
    "Scans, entries, exits, people": ["scans", "entries", "exits", "people", "scans_declared", "scans_with_symptoms"],
    "Venues": ["venues_registered", "venues_with_scans", "share_with_scans"],
    "Scans, entries and exits per hour": ["time", "scans", "entries", "exits"],
    "People and venues with scans per hour": ["time", "people", "venues_with_scans"],
    "Declared and with symptoms per hour": ["time", "scans_declared", "scans_with_symptoms"],
    "By day": ["time", "scans", "people", "scans_with_symptoms"],
    "Child areas": ["area_id", "name", "tier", "venues_registered", "venues_with_scans", "share_with_scans", "scans",
                    "entries", "exits", "people", "scans_declared", "scans_with_symptoms"],
    "Venues without scans": ["venue_id", "name"],
    "Scans per second, by source": ["time", "source", "scans_per_second"],
    "Scans per hour, every area": ["time", "scans", "entries", "exits"],
    "Dead letters": ["dead_letters"],
    "Dead letters by reason": ["time", "reason", "dead_letters"],
    "Dead letters by reason and topic": ["reason", "source_topic", "dead_letters", "last_at", "truncated"],
    "Seconds since the sink's last batch": ["seconds_since_last_batch"],
    "Where the sink is, by topic": ["topic", "partitions", "messages_landed", "last_batch_at",
                                    "seconds_since_last_batch"],
    "Alerts by kind and status": ["kind", "status", "alerts"],
    "Notifications by state": ["time", "state", "notifications"],
    "Notifications by channel and state": ["channel", "state", "notifications", "attempts"],
    "Deliveries failing": ["updated_at", "alert_id", "channel", "role", "purpose", "state", "attempts", "last_status",
                           "last_error", "next_attempt_at"],
}


# --- how Grafana and the plugin turn a panel's SQL into the statement ClickHouse runs ------
def expand(sql: str, start: datetime, end: datetime, variables: dict[str, str]) -> str:
    """Grafana's frontend replaces the template variables (``${name:singlequote}``: the
    value in single quotes, each quote in it escaped with a backslash); the plugin's backend
    then expands its macros as pkg/macros does: times as ``toDateTime(<unix seconds>)``,
    the interval in whole seconds."""
    def quoted(match: re.Match) -> str:
        return "'" + variables[match.group(1)].replace("'", "\\'") + "'"

    sql = re.sub(r"\$\{(\w+):singlequote\}", quoted, sql)
    frm, to = f"toDateTime({int(start.timestamp())})", f"toDateTime({int(end.timestamp())})"
    sql = re.sub(r"\$__timeFilter\(([^()]+)\)", lambda m: f"{m[1]} >= {frm} AND {m[1]} <= {to}", sql)
    sql = re.sub(r"\$__timeInterval\(([^()]+)\)",
                 lambda m: f"toStartOfInterval(toDateTime({m[1]}), INTERVAL {INTERVAL_SECONDS} second)", sql)
    sql = sql.replace("$__fromTime", frm).replace("$__toTime", to).replace("$__interval_s", str(INTERVAL_SECONDS))
    assert "$" not in sql, f"a macro or variable the test does not expand: {sql}"
    return sql


def panels(model: dict) -> list[dict]:
    return [panel for panel in model["panels"] if panel["type"] != "row"]


def all_panels() -> list[tuple[str, dict]]:
    return [(name, panel) for name, make in build.DASHBOARDS.items() for panel in panels(build.dashboard_json(make))]


# --- the warehouse ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def day() -> GeneratedDay:
    return generate_day(persons=150, venues=9, seed=21)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, day: GeneratedDay) -> Iterator:
    settings = Settings(data_dir=tmp_path_factory.mktemp("grafana") / "data", clickhouse_url=None)
    opened = open_warehouse(settings)
    try:
        migrate(opened, settings.retention_days)
        load_day(opened, day)
        load_records(opened, "scans_incoming", ValidScan, day.unique_scans())
        _load_operations(opened, day)
        yield opened
    finally:
        opened.close()


def _load_operations(warehouse, day: GeneratedDay) -> None:
    at = day.start + timedelta(hours=9)
    letters = [DeadLetter(reason=reason, message="test", raw_base64="", source_topic="scans.raw", source_partition=0,
                          source_offset=offset, rejected_at=at + timedelta(minutes=offset))
               for offset, reason in enumerate([RejectReason.bad_signature] * 3 + [RejectReason.unknown_venue])]
    load_records(warehouse, "dead_letters", DeadLetter, letters)
    venue = day.venues[0].venue_id
    alert_id = venue_alert_id(day.cases[0].case_id, venue)
    load_records(warehouse, "alerts", Alert, [
        Alert(alert_id=alert_id, version=version, status=status, venue_id=venue, case_ids=[day.cases[0].case_id],
              first_presence=at, last_presence=at, visits=1, created_at=at, updated_at=at, registered_at=at,
              seconds_from_registration=1.0) for version, status in ((1, "proposed"), (2, "confirmed"))])
    common = dict(alert_id=alert_id, alert_version=2, purpose="alert", venue_id=venue, body="an alert",
                  created_at=at, updated_at=at)
    load_records(warehouse, "notifications_incoming", Notification, [
        Notification(notification_id=uuid.uuid4(), channel="sms", recipient="0981234791", role="venue_owner",
                     state="delivered", attempts=1, delivered_at=at, **common),
        Notification(notification_id=uuid.uuid4(), channel="webhook", recipient="health-office", role="endpoint",
                     state="failed", attempts=5, last_status=503, last_error="503 Service Unavailable", **common),
        Notification(notification_id=uuid.uuid4(), channel="webhook", recipient="other-office", role="endpoint",
                     state="pending", attempts=2, last_status=500, last_error="500", next_attempt_at=at, **common)])
    warehouse.insert("sink_positions", ["topic", "partition", "next_offset", "updated_at"],
                     [["scans.valid", 0, 120, at], ["scans.valid", 1, 80, at], ["visits", 0, 50, at]])


def window(day: GeneratedDay) -> tuple[datetime, datetime]:
    """The whole generated day, and the hours after it a long visit may reach."""
    return day.start - timedelta(minutes=30), day.start + timedelta(days=2)


def run(warehouse, panel: dict, day: GeneratedDay, area: str = DISTRICT) -> tuple[list[dict], list[str]]:
    (target,) = panel["targets"]
    start, end = window(day)
    result = warehouse.query(expand(target["rawSql"], start, end, {"area": area}))  # through the read-only door
    return [dict(zip(result.columns, row)) for row in result.rows], result.columns


def panel_named(title: str) -> dict:
    return next(panel for _, panel in all_panels() if panel["title"] == title)


# --- the committed files --------------------------------------------------------------------
def test_the_committed_dashboards_and_account_are_what_the_code_generates() -> None:
    for path, text in build.outputs().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `python -m dashboards.grafana`"
    assert build.main(["--check"]) == 0


def test_check_fails_when_a_committed_file_differs(monkeypatch, tmp_path) -> None:
    stale = tmp_path / "tier.json"
    stale.write_text("{}\n")
    outputs = build.outputs()
    monkeypatch.setattr(build, "outputs", lambda: {stale: next(iter(outputs.values()))})
    assert build.main(["--check"]) == 1
    assert stale.read_text() == "{}\n"  # --check writes nothing


def test_every_panel_has_its_expected_columns_listed_and_one_clickhouse_target() -> None:
    titles = [panel["title"] for _, panel in all_panels()]
    assert sorted(titles) == sorted(COLUMNS), "a panel was added or renamed: list its columns in COLUMNS"
    for _, panel in all_panels():
        (target,) = panel["targets"]
        assert target["datasource"] == {"type": PLUGIN, "uid": DATASOURCE_UID} == panel["datasource"]
        assert target["editorType"] == "sql" and target["rawSql"].strip()
        assert (target["format"] == TIME_SERIES) == (panel["type"] == "timeseries"), panel["title"]
    for _, make in build.DASHBOARDS.items():
        ids = [panel["id"] for panel in build.dashboard_json(make)["panels"]]
        assert len(ids) == len(set(ids))


# --- every panel's SQL on chdb ------------------------------------------------------------------
@pytest.mark.parametrize("title", sorted(COLUMNS))
def test_every_panels_sql_runs_on_the_warehouse_with_the_columns_grafana_reads(warehouse, day, title) -> None:
    panel = panel_named(title)
    rows, columns = run(warehouse, panel, day)
    assert columns == COLUMNS[title]
    assert rows, f"{title}: no rows on a day with scans, dead letters, alerts and notifications"
    overrides = panel.get("fieldConfig", {}).get("overrides", [])
    for override in overrides:  # a field override names a column the query returns
        assert override["matcher"]["options"] in columns, title
        for prop in override["properties"]:
            for link in prop["value"] if prop["id"] == "links" else []:
                assert set(re.findall(r"__data\.fields\.(\w+)", link["url"])) <= set(columns)
    if panel["type"] == "timeseries":
        times = [row["time"] for row in rows]
        assert times == sorted(times)


def test_the_area_variable_lists_the_loaded_areas_by_tier(warehouse, day) -> None:
    model = build.dashboard_json(tier.dashboard)
    (variable,) = model["templating"]["list"]
    assert variable["name"] == "area" and variable["datasource"]["uid"] == DATASOURCE_UID
    result = warehouse.query(variable["query"]["rawSql"])
    levels = {area.area_id: area.level for area in day.areas}
    listed = [row[0] for row in result.rows]
    assert listed[0] == PROVINCE and [levels[a] for a in listed] == sorted(levels[a] for a in listed)
    assert {row[0] for row in result.rows} == {area.area_id for area in day.areas}
    assert "Phú Cường (commune 25741)" in [row[1] for row in result.rows]


def test_an_area_with_a_quote_in_its_id_stays_one_string(warehouse, day) -> None:
    rows, _ = run(warehouse, panel_named("Scans, entries, exits, people"), day, area="x' OR 1 = 1 OR '")
    assert rows == [{"scans": 0, "entries": 0, "exits": 0, "people": 0, "scans_declared": 0,
                     "scans_with_symptoms": 0}]


# --- the numbers, against a recount of the raw scans ---------------------------------------------
def recount(day: GeneratedDay, area: str) -> dict:
    scans = [s for s in day.unique_scans() if area in s.area_path]
    return {"scans": len(scans), "entries": sum(s.direction == "in" for s in scans),
            "exits": sum(s.direction == "out" for s in scans), "people": len({s.person_id for s in scans}),
            "scans_declared": sum(s.declaration != "none" for s in scans),
            "scans_with_symptoms": sum(s.declaration == "symptoms" for s in scans)}


@pytest.mark.parametrize("area", [COMMUNE, DISTRICT, PROVINCE])
def test_the_tier_totals_equal_a_recount_of_the_scans(warehouse, day, area) -> None:
    (totals,), _ = run(warehouse, panel_named("Scans, entries, exits, people"), day, area)
    expected = recount(day, area)
    assert expected["scans"] > 0 and totals == expected
    hours, _ = run(warehouse, panel_named("Scans, entries and exits per hour"), day, area)
    assert sum(row["scans"] for row in hours) == expected["scans"]
    assert sum(row["exits"] for row in hours) == expected["exits"]
    (venues,), _ = run(warehouse, panel_named("Venues"), day, area)
    registered = [v for v in day.venues if area in v.area_path]
    scanned = {s.venue_id for s in day.unique_scans() if area in s.area_path}
    assert venues["venues_registered"] == len(registered)
    assert venues["venues_with_scans"] == len(scanned)
    assert venues["share_with_scans"] == pytest.approx(len(scanned) / len(registered))


def test_the_child_areas_table_recounts_each_child_and_lists_idle_venues(warehouse, day) -> None:
    rows, _ = run(warehouse, panel_named("Child areas"), day, DISTRICT)
    assert {row["area_id"] for row in rows} == {"25741", "25744"}
    for row in rows:
        assert {k: row[k] for k in recount(day, row["area_id"])} == recount(day, row["area_id"])
        assert row["venues_registered"] == sum(row["area_id"] in v.area_path for v in day.venues)
        assert row["tier"] == "commune" and row["name"]
    idle, _ = run(warehouse, panel_named("Venues without scans"), day, DISTRICT)
    scanned = {s.venue_id for s in day.unique_scans()}
    assert {row["venue_id"] for row in idle} == {v.venue_id for v in day.venues
                                                 if DISTRICT in v.area_path and v.venue_id not in scanned}
    assert {"idle venue 0", "idle venue 1"} <= {row["name"] for row in idle}


def test_the_operations_panels_count_what_was_loaded(warehouse, day) -> None:
    (total,), _ = run(warehouse, panel_named("Dead letters"), day)
    assert total["dead_letters"] == 4
    reasons, _ = run(warehouse, panel_named("Dead letters by reason and topic"), day)
    assert [(r["reason"], r["dead_letters"]) for r in reasons] == [("bad_signature", 3), ("unknown_venue", 1)]
    hourly, _ = run(warehouse, panel_named("Scans per hour, every area"), day)
    assert sum(row["scans"] for row in hourly) == len(day.unique_scans())
    sink, _ = run(warehouse, panel_named("Where the sink is, by topic"), day)
    assert [(r["topic"], r["partitions"], r["messages_landed"]) for r in sink] == [("scans.valid", 2, 200),
                                                                                    ("visits", 1, 50)]
    alerts, _ = run(warehouse, panel_named("Alerts by kind and status"), day)
    assert alerts == [{"kind": "venue", "status": "confirmed", "alerts": 1}]  # the latest version only
    failing, _ = run(warehouse, panel_named("Deliveries failing"), day)
    assert sorted((r["state"], r["attempts"]) for r in failing) == [("failed", 5), ("pending", 2)]
    for _, panel in all_panels():
        assert "recipient" not in panel["targets"][0]["rawSql"]


# --- the data source and its account ---------------------------------------------------------------
def test_the_data_source_is_the_plugin_on_the_read_only_account_with_no_password_written() -> None:
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "clickhouse.yaml").read_text())
    (source,) = provisioned["datasources"]
    assert source["type"] == PLUGIN and source["uid"] == DATASOURCE_UID
    assert source["jsonData"]["username"] == readonly_user.USER
    assert source["jsonData"]["defaultDatabase"] == readonly_user.DATABASE
    assert int(source["jsonData"]["queryTimeout"]) <= readonly_user.QUERY_TIMEOUT_SECONDS
    assert source["secureJsonData"] == {"password": "${" + readonly_user.PASSWORD_VARIABLE + "}"}
    dashboards = yaml.safe_load((PROVISIONING / "dashboards" / "ravao.yaml").read_text())
    (provider,) = dashboards["providers"]
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False


def account() -> ET.Element:
    root = ET.fromstring(build.USERS_XML.read_text(encoding="utf-8"))
    return root


def test_the_account_is_read_only_with_only_the_drivers_timeout_changeable() -> None:
    root = account()
    user = root.find(f"users/{readonly_user.USER}")
    # No default, and none empty: unset, the optional element goes and the account with it.
    assert user.find("password").attrib == {"from_env": readonly_user.PASSWORD_VARIABLE, "optional": "true"}
    assert [child.tag for child in user if child.tag.startswith("password") or child.tag == "no_password"] == [
        "password"]
    assert not (user.find("password").text or "").strip()
    profile = root.find(f"profiles/{user.findtext('profile')}")
    assert profile.findtext("readonly") == "1"
    constraints = profile.find("constraints")
    assert [c.tag for c in constraints] == ["max_execution_time"]
    assert constraints.find("max_execution_time/changeable_in_readonly") is not None
    assert int(constraints.findtext("max_execution_time/max")) == readonly_user.QUERY_TIMEOUT_SECONDS
    assert user.find("access_management") is None


def test_the_accounts_grants_are_every_table_but_the_doors_personal_ones() -> None:
    queries = [q.text for q in account().findall(f"users/{readonly_user.USER}/grants/query")]
    granted = []
    for query in queries:
        match = re.fullmatch(rf"GRANT SELECT ON {readonly_user.DATABASE}\.(\w+)", query)
        assert match, f"a grant other than SELECT on one table of the warehouse: {query}"
        granted.append(match.group(1))
    assert PERSONAL_TABLES and not PERSONAL_TABLES & set(granted)
    assert set(granted) == set(tables()) - PERSONAL_TABLES
    assert {"personal_data", "declarations", "audit_log"} <= set(tables()) - set(granted)


def test_a_new_personal_table_leaves_the_account_on_the_next_generation(monkeypatch) -> None:
    monkeypatch.setattr(readonly_user, "PERSONAL_TABLES", PERSONAL_TABLES | {"venues"})
    assert "ravao.venues" not in readonly_user.users_xml()
    assert "ravao.venues<" in build.USERS_XML.read_text()  # so --check would fail until written again


def test_the_dashboards_read_no_personal_table() -> None:
    for _, panel in all_panels():
        sql = panel["targets"][0]["rawSql"]
        named = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", sql)) - set(re.findall(r"\b(\w+) AS\s*\(", sql))
        assert named and not named & PERSONAL_TABLES, panel["title"]
        assert named <= set(readonly_user.readable_tables()), (panel["title"], named)


def test_the_committed_json_reads_back_with_the_sdk_every_target_the_plugins_query() -> None:
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    from dashboards.grafana.query import ClickHouseQuery, register

    register_default_plugins()
    register()
    for name in build.DASHBOARDS:
        data = json.loads((build.DASHBOARDS_DIR / name).read_text(encoding="utf-8"))
        model = Dashboard.from_json(data)
        assert model.uid in (tier.UID, operations.UID) and model.title.startswith("ravao: ")
        read = [panel for panel in model.panels if getattr(panel, "type_val", None) != "row"]
        assert [p.title for p in read] == [p["title"] for p in panels(data)]
        for panel, written in zip(read, panels(data)):
            (target,) = panel.targets
            assert isinstance(target, ClickHouseQuery) and target.to_json() == written["targets"][0]


# --- the compose stack (its grafana service is added with the compose work of issue 12) ---------
def _mounts(service: dict) -> dict[str, str]:
    """Container path -> host path of a service's bind mounts."""
    out = {}
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if source.startswith("./"):
            out[rest.split(":")[0]] = source
    return out


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    return env if isinstance(env, dict) else dict(item.partition("=")[::2] for item in env)


def test_the_compose_file_mounts_the_provisioning_and_the_account_with_the_password_required() -> None:
    compose = yaml.safe_load((build.ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    if "grafana" not in compose:
        pytest.skip("the compose file has no grafana service yet (issue 12, item 6 adds it)")
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "ravao.yaml").read_text())["providers"][0]
    grafana, clickhouse = compose["grafana"], compose["clickhouse"]
    assert _mounts(grafana)["/etc/grafana/provisioning"] == "./dashboards/grafana/provisioning"
    assert _mounts(grafana)[provider["options"]["path"]] == "./dashboards/grafana/dashboards"
    assert _mounts(clickhouse)["/etc/clickhouse-server/users.d/grafana.xml"] == "./deploy/clickhouse/users.d/grafana.xml"
    for service in (grafana, clickhouse):
        assert _environment(service)[readonly_user.PASSWORD_VARIABLE].startswith(
            "${" + readonly_user.PASSWORD_VARIABLE + ":?"), "no default password"
    plugins = _environment(grafana).get("GF_PLUGINS_PREINSTALL_SYNC", "") + _environment(grafana).get(
        "GF_INSTALL_PLUGINS", "")
    assert PLUGIN in plugins
