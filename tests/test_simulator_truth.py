"""The simulator's ground truth: reproducible, rich in what goes wrong in real life, and
equal to what the pipeline makes of the simulated day (pure functions here; the real
worker on the real broker in the last test)."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import TEST_QR_KEYS, run_cli, settings_env
from pipeline.keys import parse_keys
from pipeline.pairing import compute_visits
from pipeline.registry_cache import RegistryCache
from pipeline.settings import Settings
from pipeline.topics import Topics
from pipeline.validate import Position, validate
from producers.simulator.clock import LOCAL
from producers.simulator.simulation import Simulation, build_simulation
from producers.simulator.truth import read_truth, summarise, write_truth
from schemas import RejectReason, ValidScan, Visit
from schemas.qrcode import QrCodec
from stream_helpers import dead_letters, latest_visits, settle, start_worker, stop_worker, visit_records

PEOPLE, COMMUNES, SEED = 300, 6, 20211025
# Near an instant the truth names (a maximum stay ending), open and timeout are both right.
MARGIN = timedelta(minutes=2)


def yesterday() -> date:
    return (datetime.now(LOCAL) - timedelta(days=1)).date()


CODEC = QrCodec(parse_keys(TEST_QR_KEYS))


def simulation(seed: int = SEED, day: date | None = None) -> Simulation:
    return build_simulation(CODEC, day=day or yesterday(), people=PEOPLE, seed=seed, communes=COMMUNES)


def truth_lines(sim: Simulation) -> str:
    handle = io.StringIO()
    write_truth(handle, {"seed": sim.seed}, sim.traffic, sim.visits, summarise(sim.traffic, sim.visits))
    return handle.getvalue()


def as_expected(visits: list[dict], now: datetime) -> tuple[set[tuple], set[tuple]]:
    """The truth's visits as (person, venue, t_in, t_out, entry event, exit event,
    entry_how, exit_how) at ``now``;
    and the visits near their open/timeout instant, which may be reported either way."""
    exact, either = set(), set()
    for v in visits:
        t_in, t_out = datetime.fromisoformat(v["t_in"]), datetime.fromisoformat(v["t_out"])
        row = (v["person_id"], v["venue_id"], t_in, t_out, v["entry_event_id"], v["exit_event_id"], v["entry_how"])
        until = v["open_until"] and datetime.fromisoformat(v["open_until"])
        if until and abs(now - until) < MARGIN:
            either |= {row + ("open",), row + ("timeout",)}
        else:
            exact.add(row + ("open" if until and now <= until else v["exit_how"],))
    return exact, either


def as_tuple(v: Visit) -> tuple:
    ids = [None if e is None else str(e) for e in (v.entry_event_id, v.exit_event_id)]
    return (v.person_id, v.venue_id, v.t_in, v.t_out, *ids, v.entry_how.value, v.exit_how.value)


def compare(expected: list[dict], got: set[tuple], now: datetime) -> None:
    exact, either = as_expected(expected, now)
    missing, extra = exact - got, got - exact - either
    assert len(got) == len(expected) and not missing and not extra, (
        f"{len(missing)} missing, e.g. {sorted(missing)[:3]}; {len(extra)} unexpected, e.g. {sorted(extra)[:3]}")


def test_the_same_seed_gives_the_same_day() -> None:
    first, again = simulation(), simulation()
    assert truth_lines(first) == truth_lines(again)
    assert [s.raw() for s in first.traffic.scans] == [s.raw() for s in again.traffic.scans]
    other_day = simulation(day=yesterday() - timedelta(days=1))

    def registry(sim: Simulation) -> list:  # the same records; only their updated_at differs
        return [r.model_dump(exclude={"updated_at"}) for r in
                [p.venue for p in sim.world.places] + [g.device for g in sim.world.gates]
                + [x.person for x in sim.world.residents] + [x.personal for x in sim.world.residents]]

    assert registry(other_day) == registry(first)
    assert not {s.event_id for s in other_day.traffic.scans} & {s.event_id for s in first.traffic.scans}
    assert truth_lines(simulation(seed=SEED + 1)) != truth_lines(first)


def test_the_day_has_what_goes_wrong_at_real_gates() -> None:
    sim = simulation()
    summary = summarise(sim.traffic, sim.visits)
    assert summary["doubles"] > 10 and summary["forged"] >= 3 and summary["late"] > 0
    assert summary["stays_without_scan"] > 0 and summary["visits_inferred_entry"] > 0
    assert {"scan", "next_scan", "timeout"} <= set(summary["visits_by_exit"])
    assert any(r.skew for r in sim.world.residents) and any(g.skew for g in sim.world.gates)
    categories = {p.category.value for p in sim.world.places}
    assert {"factory", "market", "hospital", "school", "office", "shop", "restaurant"} <= categories
    # A shift longer than a factory's maximum stay, its exit scanned: one visit (rule 7).
    assert any(v.exit_how == "scan" and v.t_out - v.t_in > timedelta(hours=12) for v in sim.visits)
    sources = {s.source.value for s in sim.traffic.scans}
    assert sources == {"station", "staff", "self"}


def test_the_truth_is_what_validation_and_the_pairing_rules_give() -> None:
    """Without Kafka: the oracle and pipeline/pairing.py, written apart, agree."""
    sim = simulation()
    registry = RegistryCache()
    for place in sim.world.places:
        registry.apply_venue(place.venue.venue_id.encode(), place.venue.to_bytes())
    for gate in sim.world.gates:
        registry.apply_device(gate.device.device_id.encode(), gate.device.to_bytes())
    for resident in sim.world.residents:
        registry.apply_person(resident.person.person_id.encode(), resident.person.to_bytes())
    codec, now = CODEC, datetime.now(timezone.utc)
    by_person: dict[str, list[ValidScan]] = defaultdict(list)
    rejected = []
    for offset, scan in enumerate(sim.traffic.scans):
        result = validate(scan.raw().to_bytes(), codec=codec, registry=registry, now=now,
                          position=Position("raw", 0, offset))
        if isinstance(result, ValidScan):
            by_person[result.person_id].append(result)
        else:
            rejected.append((scan.kind, result.reason))
    assert rejected == [("forged", RejectReason.bad_signature)] * sim.traffic.count("forged")
    got = {as_tuple(v) for scans in by_person.values() for v in compute_visits(scans, now)}
    compare(read_truth_from(sim)["visit"], got, now)


def read_truth_from(sim: Simulation) -> dict[str, list[dict]]:
    records: dict[str, list[dict]] = defaultdict(list)
    for line in truth_lines(sim).splitlines():
        record = json.loads(line)
        records[record.pop("type")].append(record)
    return records


@pytest.mark.kafka
def test_the_pipeline_makes_the_simulated_day_into_the_true_visits(settings: Settings, topics: Topics,
                                                                   tmp_path: Path) -> None:
    truth_file = tmp_path / "truth.jsonl"
    env = settings_env(settings)
    worker = start_worker(settings, "w1", tmp_path)
    try:
        run_cli("simulate", "--people", str(PEOPLE), "--communes", str(COMMUNES), "--seed", str(SEED),
                "--speed", "0", "--truth", str(truth_file), env=env)
        truth = read_truth(truth_file)
        settle(settings, [worker], tmp_path)
        now = datetime.now(timezone.utc)
        latest = latest_visits(visit_records(settings, topics.visits.name))
        got = {as_tuple(v) for v in latest.values() if not v.deleted}
        compare(truth["visit"], got, now)
        rejected = {(d.event_id, d.reason) for d in dead_letters(settings, topics.scans_dlq.name)}
        assert rejected == {(r["event_id"], RejectReason(r["reason"])) for r in truth["rejected"]}
    finally:
        assert stop_worker(worker) == 0
