"""Raw scans -> `ravao worker` -> `ravao sink` -> warehouse, all real processes: the
warehouse holds exactly the planned visits of a scripted day, and while the sink runs,
`ravao sql` and `ravao trace` read through its door (the sink holds the embedded engine)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import timezone
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from pipeline.access.caller import local_account
from pipeline.kafka_io import produce_all, reliable_producer
from pipeline.keys import load_codec
from pipeline.settings import Settings
from pipeline.topics import Topics, groups_for
from pipeline.warehouse import open_warehouse
from pipeline.sink.state import read_state
from pipeline.warehouse.connect import running_sink
from scenario import scripted_day
from schemas import PersonalData
from stream_helpers import lag, settle, start_worker, stop_worker, wait_for
from test_sink_replay import sink_env

pytestmark = pytest.mark.kafka


def test_a_scripted_day_lands_as_its_planned_visits_and_is_queried_through_the_sink(
        settings: Settings, topics: Topics, tmp_path: Path) -> None:
    day = scripted_day(load_codec(settings), persons=300)
    day.publish(settings.kafka_bootstrap, topics)
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.scans_raw.name, [(d.encode(), raw) for d, raw in day.scans + day.late])
    someone = day.persons[7].person_id
    produce_all(producer, topics.personal_data.name,
                [(someone.encode(), PersonalData(person_id=someone, full_name="Trần Thị Bình").to_bytes())])
    env = sink_env(settings)
    sink = subprocess.Popen([sys.executable, "-m", "pipeline", "sink"], env=env, cwd=ROOT, start_new_session=True,
                            stdout=open(tmp_path / "sink.log", "wb"), stderr=subprocess.STDOUT)
    worker = start_worker(settings, "w1", tmp_path)
    try:
        settle(settings, [worker, sink], tmp_path)
    finally:
        assert stop_worker(worker) == 0
    group = groups_for(settings).sink
    wait_for(lambda: lag(settings, group, topics.visits.name) == 0 and lag(settings, group, topics.scans_valid.name)
             == 0, 60, "the sink to catch up", [sink], tmp_path)

    # The sink holds the engine: reads go through its door, never into a lock error.
    reader = running_sink(settings)
    assert reader is not None and reader.location.startswith("http://admin:***@127.0.0.1:")
    reader.close()
    visits = json.loads(run_cli("sql", "person_visits", "-p", f"person={someone}", "-p", "from=now-3d",
                                "-p", "to=now", "--format", "json", env=env).stdout)
    assert {(someone, v["venue_id"]) for v in visits} == {(p, v) for p, v, *_ in day.expected if p == someone}
    traced = run_cli("trace", someone, "--from", "now-3d", "--min-overlap", "1s", "--depth", "2",
                     "--format", "csv", env=env).stdout
    assert traced.splitlines()[0] == "degree,person_id,overlap_seconds,overlaps,via,venues,first_contact,last_contact"
    contact = traced.splitlines()[1].split(",")[1]
    named = run_cli("trace", contact, "--from", "now-3d", "--min-overlap", "1s", "--with-names", "--actor",
                    "tracer-7", "--format", "json", env=env).stdout
    assert any(row.get("full_name") == "Trần Thị Bình" for row in json.loads(named))
    refused = run_cli("sql", "personal_data_of", "-p", f"persons={someone}", env=env, check=False)
    assert refused.returncode == 2 and "--with-names" in refused.stderr

    # The trace in full wrote its audit record to Kafka first; the sink lands it.
    wait_for(lambda: lag(settings, group, topics.audit.name) == 0, 60, "the audit record to land", [sink], tmp_path)
    sink.send_signal(signal.SIGTERM)
    assert sink.wait(30) == 0, (tmp_path / "sink.log").read_text()[-3000:]
    assert read_state(settings.data_dir) is None

    with open_warehouse(settings) as warehouse:
        rows = warehouse.query("SELECT person_id, venue_id, t_in, t_out, entry_how, exit_how FROM visits FINAL "
                               "WHERE NOT deleted").rows
        got = {(p, v, t_in, t_out, e, x) for p, v, t_in, t_out, e, x in rows}
        want = {(p, v, a.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.000"),
                 b.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.000"), e, x) for p, v, a, b, e, x in day.expected}
        assert got == want
        assert warehouse.query("SELECT count() FROM dead_letters FINAL WHERE reason = 'bad_signature'").scalar() \
            == day.forged
        # The audit record of the read in full is the authorization layer's (pipeline.access),
        # landed from Kafka: who (this machine's account, as admin), why, about whom.
        trail = warehouse.read_personal("audit_trail", {"person": "", "actor": ""}, action="audit_trail",
                                        subject="", detail={}).dicts()
        assert [(r["actor"], r["action"], r["subject"], r["purpose"]) for r in trail] == [
            (f"admin:{local_account()}", "trace_with_names", contact, "admin")]
        assert json.loads(trail[0]["detail"])["on_behalf_of"] == "tracer-7"
