"""The tracing console's setup, shared by its test modules (`test_web_tracing`,
`test_web_tracing_attacks`): `web_day`'s warehouse and app with a broker for the cases, a
confirmed case in the warehouse and on its topic, a tracer's session, and `ravao` run in
this process.

    from web_day import *  # noqa: F401,F403 (the fixtures)
    from web_trace_day import *  # noqa: F401,F403 (these, after web_day's: web_settings wins)
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from pipeline.access import local_admin
from pipeline.alerts.cases import CaseBook
from pipeline.kafka_io import ensure_topics
from pipeline.settings import Settings
from pipeline.topics import topics_for
from pipeline.warehouse.queries import load, run
from pipeline.warehouse.trace import TraceRequest, trace
from schemas import Case, Person
from schemas.cases import CaseStatus
from schemas.ids import new_id
from warehouse_day import load_records
from web_day import TRACER
from web_helpers import api_session


@pytest.fixture(scope="module")
def web_settings(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """`web_day`'s settings (it reads this fixture), with a broker for the cases."""
    home = tmp_path_factory.mktemp("web-trace")
    settings = Settings(data_dir=home / "data", clickhouse_url=None, session_cookie_secure=False,
                        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"wt{uuid.uuid4().hex[:10]}.",
                        topic_partitions=1)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    return settings


@pytest.fixture(scope="module")
def the_case(web_day, web_warehouse, web_settings) -> Case:
    """The person with the most visits, a confirmed case on the topic and in the warehouse
    (as the sink would land it), onset on the generated day."""
    load_records(web_warehouse, "persons", Person, [Person(person_id=p) for p in web_day.persons], "person_id")
    day = web_day.start
    person = run(web_warehouse, load("demo_case_candidate"), {"from": day, "to": day + timedelta(days=1)}).scalar()
    case = Case(case_id=new_id("C"), person_id=person, status=CaseStatus.confirmed, onset=web_day.day,
                registered_by="test")
    book = CaseBook(web_settings)
    try:
        book.publish(case)
    finally:
        book.close()
    load_records(web_warehouse, "cases", Case, [case], "case_id")
    return case


@pytest.fixture(scope="module")
def tracer_session(web_base, web_sms) -> dict[str, str]:
    return api_session(web_base, TRACER, web_sms)


def expected(web_warehouse, case: Case, start: datetime, end: datetime) -> list[dict]:
    return trace(web_warehouse, TraceRequest(case.person_id, start, end, 900, depth=2)).dicts()


def cli_output(args: list[str], settings: Settings, monkeypatch) -> str:
    """`ravao ARGS` in this process (the warehouse is this process's: chdb runs one engine
    per process), as the command line prints it."""
    from pipeline.cli import app

    monkeypatch.setenv("RAVAO_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("RAVAO_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    monkeypatch.setenv("RAVAO_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.delenv("RAVAO_CLICKHOUSE_URL", raising=False)
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def searches_for(web_app, phone: str) -> list[dict]:
    trail = web_app.state.reads.audit_trail(local_admin("test")).dicts()
    return [r for r in trail if r["action"] == "find_by_phone" and r["subject"] == phone]


__all__ = ["the_case", "tracer_session", "web_settings"]  # the fixtures: `from web_trace_day import *`
