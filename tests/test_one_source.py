"""Each default is written once: in the settings class (`pipeline/settings.py`), and each
consumer group in `pipeline/topics.py`. Everything else takes them from there."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from pipeline import dedup, pairing, validate
from pipeline.settings import PROJECT_ROOT, Settings, default
from pipeline.stream.guard import RejectGuard
from pipeline.topics import groups_for

PACKAGES = ("pipeline", "producers", "dashboards", "bench", "schemas")
SOURCES = {Path("pipeline/settings.py"), Path("pipeline/settings_alerting.py"), Path("pipeline/topics.py")}
# A default spelled again, or a consumer group spelled outside topics.py.
RESTATED = {
    "the accepted lateness": re.compile(r"hours\s*=\s*48\b"),
    "the debounce": re.compile(r"seconds\s*=\s*60\b"),
    "the future tolerance": re.compile(r"minutes\s*=\s*15\b"),
    "a consumer group's name": re.compile(r"[\"']ravao-(worker|sink|alerts|reader)[\"']"),
    "a prefixed group spelled by hand": re.compile(r"topic_prefix\}ravao-"),
    "a literal group id": re.compile(r"[\"']group\.id[\"']\s*:\s*[\"']"),
}
# The sink's HTTP interface names itself so (ClickHouse's display name): not a group.
ALLOWED = {'DISPLAY_NAME = "ravao-sink"'}


def test_no_module_restates_a_default_or_a_group_name() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            relative = path.relative_to(PROJECT_ROOT)
            if relative in SOURCES:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for what, pattern in RESTATED.items():
                    if pattern.search(line) and line.strip() not in ALLOWED:
                        found.append(f"{relative}:{number}: {what}: {line.strip()}")
    assert not found, "take these from the settings or from topics.py:\n" + "\n".join(found)


def test_the_modules_defaults_are_the_settings_defaults() -> None:
    lateness = timedelta(hours=Settings.model_fields["accepted_lateness_hours"].default)
    assert pairing.ACCEPTED_LATENESS == dedup.DEFAULT_SEEN_HORIZON == validate.Limits().lateness == lateness
    assert pairing.HORIZON == lateness + pairing.EXIT_AFTER_TIMEOUT_WINDOW
    assert pairing.DEFAULT_DEBOUNCE == timedelta(seconds=default("debounce_seconds"))
    assert validate.Limits().future_tolerance == timedelta(minutes=default("future_tolerance_minutes"))
    guard = RejectGuard()
    assert (guard.sources, guard.max_ratio, guard.quiet) == (
        default("reject_guard_sources"), default("reject_guard_ratio"), default("reject_guard_quiet"))


def test_consumer_groups_carry_the_topic_prefix() -> None:
    groups = groups_for(Settings(topic_prefix="hcm."))
    assert (groups.worker, groups.sink, groups.alerts) == ("hcm.ravao-worker", "hcm.ravao-sink", "hcm.ravao-alerts")
