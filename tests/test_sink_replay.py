"""The sink lands every topic, and replaying every topic from offset 0 changes no query
result, byte for byte; the tier counts equal a recount from the raw scans."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from conftest import run_cli, settings_env
from pipeline.settings import Settings
from pipeline.topics import Topics
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.output import render
from pipeline.warehouse.queries import load, run
from pipeline.warehouse.tier_counts import mismatches
from warehouse_day import GeneratedDay, generate_day, publish_day

pytestmark = pytest.mark.kafka


def sink_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = settings_env(settings)
    env.update({"RAVAO_SINK_PORT": "0", "RAVAO_SINK_BATCH_ROWS": "2000", "RAVAO_SINK_BATCH_SECONDS": "0.3", **extra})
    return env


def answers(settings: Settings, day: GeneratedDay) -> dict[str, str]:
    """Every library question about the day, printed as the CLI prints them."""
    start, end = day.start.isoformat(), (day.start + timedelta(days=1)).isoformat()
    case = day.cases[0].person_id
    asked = {
        "person_visits": {"person": case, "from": start, "to": end},
        "f1_contacts": {"person": case, "from": start, "to": end, "min_overlap_seconds": "10m"},
        "f2_contacts": {"person": case, "from": start, "to": end, "min_overlap_seconds": "30m"},
        "venue_timeline": {"venue": day.venues[0].venue_id, "from": start, "to": end},
        "tier_counts": {"area": "74", "from_day": str(day.day), "to_day": str(day.day + timedelta(days=2))},
        "area_counts_by_hour": {"area": "718", "from": start, "to": end},
        "venues_without_scans": {"area": "74", "from": start, "to": end},
    }
    out = {}
    with open_warehouse(settings) as warehouse:
        for name, params in asked.items():
            result = run(warehouse, load(name), params)
            assert result.rows, f"{name} found nothing: the comparison would prove little"
            for fmt in ("json", "csv"):
                out[f"{name}.{fmt}"] = render(result, fmt)
        counts = warehouse.query("SELECT count(), uniqExact(event_id) FROM scans").rows[0]
        out["scans"] = str(counts)
        out["dead_letters"] = str(warehouse.query("SELECT reason, count() FROM dead_letters FINAL GROUP BY reason "
                                                  "ORDER BY reason").rows)
        assert not mismatches(warehouse).rows
    return out


def test_a_replay_from_offset_zero_changes_no_query_result(settings: Settings, topics: Topics) -> None:
    day = generate_day(persons=400, seed=3)
    publish_day(settings.kafka_bootstrap, topics, day)
    first = run_cli("sink", "--until-caught-up", env=sink_env(settings))
    assert "rows sent" in first.stdout, first.stderr
    before = answers(settings, day)

    unique = {str(s.event_id): s for s in day.scans}
    assert len(unique) < len(day.scans)  # the topic did carry repeated event ids
    assert before["scans"] == str([len(unique), len(unique)])
    assert before["dead_letters"] == str([["bad_signature", 5], ["undecodable", 1]])
    province = Counter(s.direction.value for s in unique.values())
    last_day = day.day + timedelta(days=2)  # late visits run past midnight
    tier = run_cli("sql", "tier_counts", "-p", "area=74", "-p", f"from_day={day.day}", "-p", f"to_day={last_day}",
                   "--format", "json", env=sink_env(settings)).stdout
    assert f'"scans": {len(unique)}' in tier and f'"entries": {province["in"]}' in tier
    assert f'"exits": {province["out"]}' in tier

    replay = run_cli("sink", "--replay", "--until-caught-up", env=sink_env(settings))
    assert "rows sent" in replay.stdout
    assert answers(settings, day) == before

    # A new consumer group starts at the positions stored in the warehouse: nothing to do.
    again = run_cli("sink", "--group", "another-sink", "--until-caught-up", env=sink_env(settings))
    assert "rows sent: none" in again.stdout
    assert answers(settings, day) == before
