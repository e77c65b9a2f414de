"""The query library stays documented and its command-line values parse as a tracer
types them. No engine needed."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.warehouse.migrations import SQL_DIR
from pipeline.warehouse.queries import QueryInputError, library, load, parse_duration, parse_time


@pytest.mark.parametrize("text, seconds", [("15m", 900), ("1h", 3600), ("900s", 900), ("1h30m", 5400),
                                           ("2d", 172800), ("0.5h", 1800), (" 45 m ", 2700)])
def test_durations_read_as_a_tracer_writes_them(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["15", "fifteen minutes", "15x", "m", ""])
def test_a_duration_without_a_unit_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(QueryInputError, match="15m, 1h, 900s"):
        parse_duration(text)


def test_times_are_iso_or_relative_to_now_and_utc_unless_an_offset_says_otherwise() -> None:
    now = datetime(2026, 3, 15, 12, 0, tzinfo=timezone.utc)
    assert parse_time("now", now) == now
    assert parse_time("now-14d", now) == now - timedelta(days=14)
    assert parse_time("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert parse_time("2026-03-01T08:00+07:00", now) == datetime(2026, 3, 1, 1, 0, tzinfo=timezone.utc)
    with pytest.raises(QueryInputError, match="not a time"):
        parse_time("yesterday", now)


def test_every_query_says_what_it_asks_and_lists_its_parameters() -> None:
    index = (SQL_DIR / "README.md").read_text()
    for query in library():
        assert query.summary, query.name
        assert f"`{query.name}.sql`" in index, f"{query.name} is missing from sql/README.md"
        declared = re.search(r"^-- Parameters: (.*)$", query.path.read_text(), re.M)
        assert declared, f"{query.name}: no '-- Parameters:' line"
        named = set(re.findall(r"(\w+) (?:String|DateTime64|Date|UInt32|Array)", declared.group(1)))
        assert named == set(query.parameters), query.name


def test_an_unknown_query_name_lists_the_library() -> None:
    with pytest.raises(QueryInputError, match="f1_contacts"):
        load("f1_contact")
