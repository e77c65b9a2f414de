"""A scripted outbreak through the alerting job, on the real broker and the embedded
sink: a generated day of visits on `visits`, three cases registered at different times,
one venue visited by all three. The venue alerts, contact lists and the one cluster alert
must be what the plan implies, worked out here from the day's visits by brute force, not
by the job's code; registering a case twice, replaying `cases` and restarting the job
change nothing; a late visit of a case adds its venue alert and contacts; clearing
retracts."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import ROOT
from metrics_helpers import of_registry, value
from pipeline.access import cli_caller, reads_for
from pipeline.alerts.cases import CaseBook, CaseError
from pipeline.alerts.decisions import confirm
from pipeline.alerts.job import AlertsJob
from pipeline.kafka_io import produce_all, read_to_end, reliable_producer
from pipeline.registry import read_latest
from pipeline.settings import Settings
from pipeline.topics import Topics, groups_for
from pipeline.warehouse.connect import ServiceWarehouse
from schemas import Visit
from schemas.cases import Alert, AlertKind, AlertStatus, CaseStatus, Contact, venue_alert_id
from stream_helpers import lag, wait_for
from test_sink_replay import sink_env
from warehouse_day import GeneratedDay, brute_f1, generate_day

pytestmark = pytest.mark.kafka

MIN_OVERLAP = 900


def publish_day(settings: Settings, topics: Topics, day: GeneratedDay) -> None:
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.areas.name, [(a.area_id.encode(), a.to_bytes()) for a in day.areas])
    produce_all(producer, topics.venues.name, [(v.venue_id.encode(), v.to_bytes()) for v in day.venues])
    produce_all(producer, topics.visits.name, [(v.person_id.encode(), v.to_bytes()) for v in day.records])


def start_sink(settings: Settings, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "sink"], env=sink_env(settings), cwd=ROOT,
                            start_new_session=True, stdout=open(tmp_path / "sink.log", "ab"),
                            stderr=subprocess.STDOUT)


def landed(settings: Settings, topic: str) -> bool:
    return lag(settings, groups_for(settings).sink, topic) == 0


def drive(job: AlertsJob, until, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.poll(0.1)
        job.step()
        if until():
            return
    raise AssertionError(f"timed out waiting for {what}; pending: {job.pending}")


def quiet(job: AlertsJob, seconds: float = 2.0) -> None:
    """Run the job until it has nothing pending and nothing arrived for ``seconds``."""
    drive(job, lambda: job.caught_up and not job.pending and not job.dirty_venues, "the job to settle")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        job.poll(0.1)
        job.step()


def three_cases_sharing_one_venue(day: GeneratedDay) -> tuple[list[str], str]:
    """Three people whose visited venues meet, pair by pair, in one venue only."""
    venues: dict[str, set[str]] = {}
    for visit in day.live_visits():
        venues.setdefault(visit.person_id, set()).add(visit.venue_id)
    people = sorted(venues)
    for i, a in enumerate(people):
        for b in people[i + 1:]:
            shared = venues[a] & venues[b]
            if len(shared) != 1:
                continue
            for c in people:
                if c in (a, b):
                    continue
                if venues[a] & venues[c] == shared and venues[b] & venues[c] == shared:
                    return [a, b, c], next(iter(shared))
    raise AssertionError("the generated day has no three such people")


def expected_venue_alerts(live: list[Visit], person: str, start: datetime, end: datetime) -> dict[str, tuple]:
    """venue -> (first, last, visits, exposed), from the visits alone."""
    contacts = brute_f1(live, person, start, end, MIN_OVERLAP)
    out: dict[str, list] = {}
    for visit in live:
        if visit.person_id != person or visit.t_out <= start or visit.t_in >= end:
            continue
        t_in, t_out = max(visit.t_in, start), min(visit.t_out, end)
        there = out.setdefault(visit.venue_id, [t_in, t_out, 0])
        there[0], there[1], there[2] = min(there[0], t_in), max(there[1], t_out), there[2] + 1
    return {venue: (first, last, n, sum(1 for c in contacts.values() if venue in c.venues))
            for venue, (first, last, n) in out.items()}


def latest_alerts(settings: Settings, topics: Topics) -> dict[str, Alert]:
    return read_latest(settings.kafka_bootstrap, topics.alerts, Alert)


def latest_contacts(settings: Settings, topics: Topics, case_id: str) -> dict[str, Contact]:
    found = read_latest(settings.kafka_bootstrap, topics.contacts, Contact)
    return {c.person_id: c for c in found.values() if c.case_id == case_id and not c.removed}


def messages(settings: Settings, topic: str) -> int:
    return sum(1 for _ in read_to_end(settings.kafka_bootstrap, topic))


def check_case(settings: Settings, topics: Topics, live: list[Visit], case, now: datetime) -> None:
    start = datetime(case.onset.year, case.onset.month, case.onset.day, tzinfo=timezone.utc) - timedelta(days=2)
    expected = expected_venue_alerts(live, case.person_id, start, now)
    alerts = {a.venue_id: a for a in latest_alerts(settings, topics).values()
              if a.kind is AlertKind.venue and a.case_ids == [case.case_id] and a.status is not AlertStatus.retracted}
    assert set(alerts) == set(expected), case.case_id
    for venue, (first, last, visits, exposed) in expected.items():
        alert = alerts[venue]
        assert alert.alert_id == venue_alert_id(case.case_id, venue)
        assert (alert.first_presence, alert.last_presence, alert.visits, alert.exposed) == (first, last, visits, exposed)
        assert alert.seconds_from_registration >= 0 and alert.registered_at == case.registered_at
    contacts = latest_contacts(settings, topics, case.case_id)
    brute = brute_f1(live, case.person_id, start, now, MIN_OVERLAP)
    assert set(contacts) == set(brute)
    for person, contact in brute.items():
        got = contacts[person]
        assert got.degree == 1 and got.overlaps == contact.overlaps and got.venues == sorted(contact.venues)
        assert abs(got.overlap_seconds * 1000 - contact.total_ms) <= 500


def test_an_outbreak_gives_the_planned_alerts_contacts_and_one_cluster(settings: Settings, topics: Topics,
                                                                     tmp_path: Path) -> None:
    settings = settings.model_copy(update={"alerts_recheck_seconds": 3600.0})
    day = generate_day(persons=300, venues=36, seed=5)
    live = day.live_visits()
    people, shared = three_cases_sharing_one_venue(day)
    publish_day(settings, topics, day)
    sink = start_sink(settings, tmp_path)
    warehouse = ServiceWarehouse(settings, "alerts")
    reads = reads_for(settings, warehouse)
    book = CaseBook(settings, settings.kafka_bootstrap)
    job = AlertsJob(settings, settings.kafka_bootstrap, reads)
    try:
        wait_for(lambda: landed(settings, topics.visits.name), 90, "the day to land", [sink], tmp_path)
        job.restore()
        quiet(job, 0.5)
        onset = day.day + timedelta(days=1)
        cases = []
        for n, person in enumerate(people):
            case, created = book.register(person, onset, CaseStatus.confirmed, "fever since Monday", by="tracer-1",
                                          known=lambda p: True)
            assert created
            cases.append(case)
            drive(job, lambda: case.case_id in job.evaluated, f"case {n + 1} to be evaluated")
            quiet(job)
            check_case(settings, topics, live, case, datetime.now(timezone.utc))
            clusters = [a for a in latest_alerts(settings, topics).values() if a.kind is AlertKind.cluster]
            if n == 0:
                assert clusters == []
            else:  # found as soon as the second case is registered, and the same alert after
                assert len(clusters) == 1 and clusters[0].venue_id == shared
                assert clusters[0].case_ids == [c.case_id for c in cases]
                assert clusters[0].status is AlertStatus.proposed
        cluster = clusters[0]
        assert cluster.exposed == len(set().union(*(
            {p for p, c in brute_f1(live, c.person_id, day.start - timedelta(days=1), datetime.now(timezone.utc),
                                    MIN_OVERLAP).items() if shared in c.venues} for c in cases)) - set(people))

        # The same case again, the same record again, a restart replaying `cases` from
        # offset 0: not one message more.
        before = (messages(settings, topics.alerts.name), messages(settings, topics.contacts.name))
        again, created = book.register(people[0], onset, CaseStatus.confirmed, by="hospital", known=lambda p: True)
        assert (again.case_id, created) == (cases[0].case_id, False)
        book.publish(cases[1])
        quiet(job)
        done = of_registry(job.metrics.registry)  # what the alerting job's /metrics says of it
        assert value(done, "ravao_alerts_evaluations_total", outcome="done") == 3
        assert value(done, "ravao_alerts_evaluation_seconds_count") == 3
        assert value(done, "ravao_alerts_written_total", kind="cluster") >= 1
        assert value(done, "ravao_alerts_written_total", kind="venue") >= 3
        job.close()
        job = AlertsJob(settings, settings.kafka_bootstrap, reads)
        job.restore()
        quiet(job)
        assert job.evaluations_done == 3
        assert (messages(settings, topics.alerts.name), messages(settings, topics.contacts.name)) == before

        # A tracer confirms one alert: the job writes its confirmed version.
        first = venue_alert_id(cases[0].case_id, shared)
        confirm(settings, settings.kafka_bootstrap, first, "tracer:098****791")
        drive(job, lambda: job.alerts[first].status is AlertStatus.confirmed, "the confirmation")
        assert job.alerts[first].confirmed_by == "tracer:098****791"
        with pytest.raises(CaseError):
            confirm(settings, settings.kafka_bootstrap, uuid.uuid4(), "tracer")

        # A late station upload: the first case at a venue none of them visited, with
        # someone there for an hour. Its venue alert and the new contact follow.
        visited = {v.venue_id for v in live if v.person_id in people}
        other = next(v for v in live if v.venue_id not in visited and v.t_out - v.t_in >= timedelta(hours=1))
        venue = next(v for v in day.venues if v.venue_id == other.venue_id)
        late = Visit(visit_id=uuid.uuid4(), version=1, person_id=people[0], venue_id=venue.venue_id,
                     area_id=venue.area_id, area_path=venue.area_path, category=venue.category, t_in=other.t_in,
                     t_out=other.t_in + timedelta(hours=1), entry_how="scan", exit_how="scan")
        produce_all(reliable_producer(settings.kafka_bootstrap), topics.visits.name,
                    [(people[0].encode(), late.to_bytes())])
        late_id = venue_alert_id(cases[0].case_id, venue.venue_id)
        drive(job, lambda: late_id in job.alerts, "the late visit's venue alert", 60)
        quiet(job)
        live.append(late)
        check_case(settings, topics, live, cases[0], datetime.now(timezone.utc))
        assert other.person_id in latest_contacts(settings, topics, cases[0].case_id)
        assert job.alerts[late_id].reason == "new visits"

        # Clearing retracts: the third case's alerts and contacts; the cluster keeps two
        # cases, then is retracted when a second case is cleared.
        book.update(cases[2].case_id, status=CaseStatus.cleared, by="tracer-1")
        drive(job, lambda: job.evaluated.get(cases[2].case_id, (None,))[0] is CaseStatus.cleared, "the clearing")
        quiet(job)
        alerts = latest_alerts(settings, topics)
        mine = [a for a in alerts.values() if a.kind is AlertKind.venue and a.case_ids == [cases[2].case_id]]
        assert mine and all(a.status is AlertStatus.retracted for a in mine)
        assert latest_contacts(settings, topics, cases[2].case_id) == {}
        assert alerts[str(cluster.alert_id)].case_ids == [cases[0].case_id, cases[1].case_id]
        assert alerts[str(cluster.alert_id)].status is AlertStatus.proposed
        book.update(cases[1].case_id, status=CaseStatus.cleared, by="tracer-1")
        drive(job, lambda: job.evaluated.get(cases[1].case_id, (None,))[0] is CaseStatus.cleared, "the clearing")
        quiet(job)
        assert latest_alerts(settings, topics)[str(cluster.alert_id)].status is AlertStatus.retracted

        # The warehouse has what the topic has: each alert's latest version.
        wait_for(lambda: landed(settings, topics.alerts.name), 60, "the alerts to land", [sink], tmp_path)
        listed = reads.alerts(cli_caller()).dicts()
        assert {(r["alert_id"], int(r["version"]), r["status"]) for r in listed} == {
            (str(a.alert_id), a.version, a.status.value) for a in latest_alerts(settings, topics).values()}
        by_case = reads.alerts(cli_caller(), case=cases[0].case_id).dicts()
        assert {r["venue_id"] for r in by_case if r["kind"] == "venue"} == {
            v.venue_id for v in live if v.person_id == people[0]}
        wait_for(lambda: landed(settings, topics.contacts.name), 60, "the contacts to land", [sink], tmp_path)
        listed = reads.case_contacts(cli_caller(), cases[0].case_id).dicts()
        assert {r["person_id"]: int(r["overlap_seconds"]) for r in listed} == {
            p: c.overlap_seconds for p, c in latest_contacts(settings, topics, cases[0].case_id).items()}
    finally:
        job.close()
        book.close()
        reads.trail.close()
        warehouse.close()
        sink.terminate()
        sink.wait(30)


def test_a_case_needs_a_known_person_and_a_sensible_onset(settings: Settings) -> None:
    book = CaseBook(settings, settings.kafka_bootstrap)
    today = datetime.now(timezone.utc).date()
    try:
        with pytest.raises(CaseError, match="no registered person"):
            book.register("P" + "B" * 14, today, CaseStatus.suspected, by="t", known=lambda p: False)
        with pytest.raises(CaseError, match="future"):
            book.register("P" + "B" * 14, today + timedelta(days=5), CaseStatus.suspected, by="t", known=lambda p: True)
        with pytest.raises(CaseError, match="older than"):
            book.register("P" + "B" * 14, today - timedelta(days=400), CaseStatus.suspected, by="t",
                          known=lambda p: True)
        with pytest.raises(CaseError, match="confirmed or suspected"):
            book.register("P" + "B" * 14, today, CaseStatus.cleared, by="t", known=lambda p: True)
        case, _ = book.register("P" + "C" * 14, today, CaseStatus.suspected, by="t", known=lambda p: True)
        assert book.update(case.case_id, status=CaseStatus.suspected, by="t") == case  # no change, nothing sent
        updated = book.update(case.case_id, status=CaseStatus.confirmed, by="t2")
        assert (updated.status, updated.updated_by, updated.registered_at) == (CaseStatus.confirmed, "t2",
                                                                                case.registered_at)
        with pytest.raises(CaseError, match="no case"):
            book.update("C" + "B" * 14, status=CaseStatus.cleared, by="t")
    finally:
        book.close()


def test_the_case_commands_register_update_and_list_as_a_user_types_them(settings: Settings) -> None:
    from conftest import run_cli, settings_env
    from pipeline.registry import Registry

    registry = Registry(settings, settings.kafka_bootstrap)
    person = registry.add_person(full_name="Nguyễn Văn An").person_id
    registry.close()
    env = settings_env(settings)
    onset = datetime.now(timezone.utc).date().isoformat()
    first = run_cli("case", "register", person, "--onset", onset, "--status", "suspected", "--note", "sốt", env=env)
    case_id = first.stdout.split(":")[0]
    assert first.stdout.strip() == f"{case_id}: registered (suspected, onset {onset})"
    again = run_cli("case", "register", person, "--onset", onset, "--status", "confirmed", env=env)
    assert again.stdout.startswith(f"{case_id}: this person's open case") and "nothing new" in again.stdout
    unknown = run_cli("case", "register", "P" + "B" * 14, "--onset", onset, "--status", "confirmed", env=env,
                      check=False)
    assert unknown.returncode == 2 and "no registered person" in unknown.stderr
    bad_date = run_cli("case", "register", person, "--onset", "yesterday", "--status", "confirmed", env=env,
                       check=False)
    assert bad_date.returncode == 2 and "2026-11-28" in bad_date.stderr
    assert run_cli("case", "update", case_id, "--status", "cleared", env=env).stdout.startswith(f"{case_id}: cleared")
    listed = run_cli("case", "list", env=env).stdout
    assert case_id in listed and "cleared" in listed and "sốt" not in listed  # the note only in --format json
    assert "sốt" in run_cli("case", "list", "--format", "json", env=env).stdout
    missing = run_cli("case", "update", "C" + "B" * 14, "--status", "cleared", env=env, check=False)
    assert missing.returncode == 2 and "no case" in missing.stderr


def test_a_visit_read_just_before_its_case_is_in_the_cases_first_evaluation(settings: Settings, topics: Topics,
                                                                           tmp_path: Path) -> None:
    import os
    import signal

    day = generate_day(persons=20, venues=4, seed=9)
    publish_day(settings, topics, day)
    sink = start_sink(settings, tmp_path)
    warehouse = ServiceWarehouse(settings, "alerts")
    reads = reads_for(settings, warehouse)
    book = CaseBook(settings, settings.kafka_bootstrap)
    job = AlertsJob(settings, settings.kafka_bootstrap, reads)
    try:
        wait_for(lambda: landed(settings, topics.visits.name) and landed(settings, topics.venues.name), 90,
                 "the day to land", [sink], tmp_path)
        job.restore()
        quiet(job, 0.5)
        person, venue = day.persons[0], day.venues[3]
        late = Visit(visit_id=uuid.uuid4(), version=1, person_id=person, venue_id=venue.venue_id,
                     area_id=venue.area_id, area_path=venue.area_path, category=venue.category,
                     t_in=day.start + timedelta(hours=20), t_out=day.start + timedelta(hours=21), entry_how="scan",
                     exit_how="scan")
        os.kill(sink.pid, signal.SIGSTOP)  # the warehouse falls behind: the visit is read, not landed
        try:
            produce_all(reliable_producer(settings.kafka_bootstrap), topics.visits.name,
                        [(person.encode(), late.to_bytes())])
            drive(job, lambda: bool(job._seen_visits), "the job to read the visit")
            seen = dict(job._seen_visits)
            case, _ = book.register(person, day.day + timedelta(days=1), CaseStatus.confirmed, by="t",
                                    known=lambda p: True)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                job.poll(0.1)
                job.step()
            # It waits for the warehouse to have every visit read so far, the late one included.
            assert case.case_id not in job.evaluated and job.pending[case.case_id].needs == seen
        finally:
            os.kill(sink.pid, signal.SIGCONT)
        drive(job, lambda: case.case_id in job.evaluated, "the case's evaluation", 60)
        assert venue_alert_id(case.case_id, venue.venue_id) in job.alerts
    finally:
        job.close()
        book.close()
        reads.trail.close()
        warehouse.close()
        sink.terminate()
        sink.wait(30)
