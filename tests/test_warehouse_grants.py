"""`ravao warehouse grants`: SQL for a ClickHouse server's own access control. No server
can be installed here, so each statement is parsed by the engine itself (chdb's
``formatQuerySingleLine``, the parser a server runs), and what it grants is checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli
from pipeline.settings import Settings
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.door import PERSONAL_TABLES, read_settings
from pipeline.warehouse.grants import parse_officers, statements, tables


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("grants") / "data", clickhouse_url=None)
    with open_warehouse(settings) as warehouse:
        yield warehouse


def canonical(engine, statement: str) -> str:
    return engine.query("SELECT formatQuerySingleLine({s:String})", {"s": statement}).scalar()


def test_every_statement_parses_in_the_engine(engine) -> None:
    printed = statements("ravao", read_settings(300, 1000, 1 << 20, 1 << 28), {"hoa": "25741", "lan": "718"})
    kinds = set()
    for statement in printed:
        formatted = canonical(engine, statement)
        assert formatted, statement
        kinds.add(" ".join(formatted.split()[:3]))
    assert {"CREATE SETTINGS PROFILE", "CREATE ROLE IF", "CREATE USER IF", "CREATE ROW POLICY"} <= kinds, kinds


def test_personal_tables_go_only_to_the_roles_that_need_them_and_officers_see_their_area() -> None:
    printed = statements("ravao", read_settings(300, 1000, 1 << 20, 1 << 28), {"hoa": "25741"})
    grants = [s for s in printed if s.startswith("GRANT SELECT")]
    for table in PERSONAL_TABLES:
        (line,) = [s for s in grants if f".{table} " in s]
        assert "ravao_area_officer" not in line and "ravao_analyst" not in line or table == "audit_log"
    assert "GRANT SELECT ON ravao.personal_data TO ravao_web, ravao_alerts, ravao_tracer" in printed
    # A person's health answers: the tracers only, not the services (a scan carries the status word).
    assert "GRANT SELECT ON ravao.declarations TO ravao_tracer" in printed
    assert "GRANT SELECT ON ravao.scans TO ravao_web, ravao_alerts, ravao_tracer, ravao_analyst" in printed
    assert not [s for s in printed if "INSERT" in s or "KILL" in s or "SYSTEM" in s or "ALL" in s.split()]
    assert "readonly = 1" in printed[0] and "max_execution_time = 300" in printed[0]
    policies = [s for s in printed if s.startswith("CREATE ROW POLICY IF NOT EXISTS ravao_area_hoa")]
    assert len(policies) == 6 and all("'25741'" in p and p.endswith("TO hoa") for p in policies)
    assert {t for t in tables()} >= {"scans", "venues", "tier_counts_daily", "personal_data", "audit_log"}


def test_a_value_cannot_break_out_of_its_quotes(engine) -> None:
    (policy, *_) = [s for s in statements("d", {"readonly": 1}, {"x": "1') OR 1 --"}) if "ravao_area_x" in s]
    assert "'1\\') OR 1 --'" in policy
    assert canonical(engine, policy).count("ravao_area_x") == 1


def test_ravao_warehouse_grants_prints_the_sql_and_checks_its_arguments(tmp_path: Path) -> None:
    env = {**os.environ, "RAVAO_DATA_DIR": str(tmp_path)}
    env.pop("RAVAO_CLICKHOUSE_URL", None)
    printed = run_cli("warehouse", "grants", "--area-officer", "hoa=25741", env=env).stdout
    assert "CREATE ROW POLICY IF NOT EXISTS ravao_area_hoa ON default.venues" in printed
    assert "CREATE USER IF NOT EXISTS ravao_web" in printed
    bad = run_cli("warehouse", "grants", "--area-officer", "hoa", env=env, check=False)
    assert bad.returncode == 2 and "USER=AREA" in bad.stderr
    with pytest.raises(ValueError):
        parse_officers(["=1"])
