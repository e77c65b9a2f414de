"""`ravao bench web` at a tiny size: the report has a row per page, both measured as many
times as asked, and the page sent the bare SQL's very query with its parameters (no
timing is asserted)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bench.web import f1_url, report, run, tier_url
from pipeline.warehouse.queries import parse_time


def test_the_bench_measures_each_page_beside_its_own_query_with_the_same_parameters(tmp_path, capsys) -> None:
    figures = run(visits=20_000, days=3, cases=2, requests=3, directory=tmp_path / "bench", quiet=True)
    results = figures["results"]
    assert [m.label.split(",")[0] for m in results] == ["tier page", "F1 view"]
    for measured in results:
        assert len(measured.page) == len(measured.sql) == len(measured.in_warehouse) == 3
        assert measured.same_query, f"{measured.label}: the page did not send the bare SQL with its parameters"
        assert measured.page_queries >= 1 and measured.page_bytes > 0
    tier, f1 = results
    assert tier.sql_params["area"] == "74"
    assert (tier.sql_params["to_day"] - tier.sql_params["from_day"]).days == 29
    assert f1.sql_params["min_overlap_seconds"] == 900
    assert parse_time(f1.url.params["from"]) == f1.sql_params["from"]
    assert parse_time(f1.url.params["to"]) == f1.sql_params["to"]
    report(figures)
    printed = capsys.readouterr().out
    assert "page p99" in printed and "bare SQL p99" in printed and "goal" in printed
    assert ("met (" in printed) or ("MISSED (" in printed)


def test_each_url_is_a_page_of_the_site_not_the_api() -> None:
    end = datetime(2026, 12, 2, 8, tzinfo=timezone.utc)
    for url in (tier_url("74", end.date()), f1_url("P" + "B" * 14, "C" + "B" * 14, end - timedelta(days=14), end)):
        assert not url.path.startswith("/api/")
