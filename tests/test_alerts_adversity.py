"""The alerting job against its inputs at their worst, on a real broker: a tracer's
decision that no longer applies, and records on its topics that are not what they
should be. (No warehouse is needed: nothing here reaches an evaluation.)"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

import pytest

from pipeline.alerts.job import AlertsJob
from pipeline.kafka_io import produce_all, reliable_producer
from pipeline.settings import Settings
from pipeline.topics import Topics
from schemas.cases import Alert, AlertDecision, AlertStatus, Case, CaseStatus, venue_alert_id
from schemas.ids import CASE, PERSON, VENUE, new_id

pytestmark = pytest.mark.kafka


def run_for(job: AlertsJob, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        job.poll(0.1)
        job.step()


def test_a_decision_made_before_a_case_was_reopened_does_not_confirm_its_alert_again(
        settings: Settings, topics: Topics) -> None:
    # A tracer confirmed the alert; the case was cleared (retracted) and re-opened a day
    # later: the alert is found again, `proposed`, and waits for a tracer. A restarted
    # job replays `alerts.decisions` from the beginning: the old decision must not
    # confirm it (and notify everyone) in the tracer's name.
    case_id, venue_id = new_id(CASE), new_id(VENUE)
    decided = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
    reopened = decided + timedelta(days=1)
    start = datetime(2026, 11, 18, 8, tzinfo=timezone.utc)
    alert = Alert(alert_id=venue_alert_id(case_id, venue_id), version=5, status=AlertStatus.proposed,
                  venue_id=venue_id, case_ids=[case_id], first_presence=start, last_presence=start + timedelta(hours=1),
                  visits=1, exposed=2, created_at=decided - timedelta(hours=1), updated_at=reopened,
                  registered_at=reopened, seconds_from_registration=1.0, reason="status changed to confirmed")
    decision = AlertDecision(alert_id=alert.alert_id, decided_by="tracer:098****791", decided_at=decided)
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.alert_decisions.name, [(str(alert.alert_id).encode(), decision.to_bytes())])
    produce_all(producer, topics.alerts.name, [(str(alert.alert_id).encode(), alert.to_bytes())])
    job = AlertsJob(settings, settings.kafka_bootstrap, reads=None)
    try:
        job.restore()
        run_for(job, 3)
        assert job.alerts[alert.alert_id].status is AlertStatus.proposed
        assert job.alerts[alert.alert_id].version == 5
        # a decision made after the re-opening does confirm it
        fresh = AlertDecision(alert_id=alert.alert_id, decided_by="tracer:098****791",
                              decided_at=reopened + timedelta(minutes=5))
        produce_all(producer, topics.alert_decisions.name, [(str(alert.alert_id).encode(), fresh.to_bytes())])
        run_for(job, 3)
        assert job.alerts[alert.alert_id].status is AlertStatus.confirmed
    finally:
        job.close()


def test_records_on_cases_that_are_not_cases_are_skipped_and_the_job_goes_on(settings: Settings,
                                                                              topics: Topics) -> None:
    producer = reliable_producer(settings.kafka_bootstrap)
    case = Case(case_id=new_id(CASE), person_id=new_id(PERSON), status=CaseStatus.cleared, onset=date(2026, 11, 18),
                registered_by="tracer:test")
    produce_all(producer, topics.cases.name, [
        (b"\xff\xfe", None),  # a tombstone whose key is not even text
        (b"junk", b"\x00" * 10_000), (b"junk2", b'{"case_id": "not a case"}'),
        (case.case_id.encode(), case.to_bytes())])
    job = AlertsJob(settings, settings.kafka_bootstrap, reads=None)
    try:
        job.restore()
        run_for(job, 3)
        assert job.caught_up and case.case_id in job.cases
    finally:
        job.close()


def test_the_job_catches_up_when_the_last_offset_of_cases_is_not_a_record(settings: Settings,
                                                                          topics: Topics) -> None:
    # The end offset of a partition need not be a record the consumer sees: a transaction's
    # commit marker, or a tombstone the cleaner removed. Waiting for it, the job never
    # caught up, and never evaluated a case again.
    from confluent_kafka import Producer

    case = Case(case_id=new_id(CASE), person_id=new_id(PERSON), status=CaseStatus.cleared, onset=date(2026, 11, 18),
                registered_by="tracer:test")
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "transactional.id": f"t-{case.case_id}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topics.cases.name, key=case.case_id.encode(), value=case.to_bytes())
    producer.commit_transaction(30)
    job = AlertsJob(settings, settings.kafka_bootstrap, reads=None)
    try:
        job.restore()
        run_for(job, 4)
        assert case.case_id in job.cases
        assert job.caught_up
    finally:
        job.close()


def test_records_on_accounts_and_venues_that_are_not_valid_do_not_stop_the_job(settings: Settings,
                                                                               topics: Topics) -> None:
    from pipeline.access.directory import AccountDirectory

    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.accounts.name, [(b"0901000001", b"\x00 not an account"), (b"\xff", None)])
    produce_all(producer, topics.venues.name, [(b"VXXXXXXXXXXXXXX", b"[1, 2]"), (b"\xfe", b"{}")])
    job = AlertsJob(settings, settings.kafka_bootstrap, reads=None, directory=AccountDirectory())
    try:
        job.restore()
        produce_all(producer, topics.accounts.name, [(b"0901000002", b"{}")])  # and live
        run_for(job, 3)
        assert job.caught_up
    finally:
        job.close()


def test_a_cluster_keeps_its_alert_when_the_case_it_is_named_after_is_cleared(settings: Settings,
                                                                             topics: Topics) -> None:
    # Three cases at a market; the first-registered one is cleared. Two remain: the venue
    # must not get "withdrawn, no action needed" and a new cluster alert, but the same
    # alert, revised.
    from pipeline.alerts.evaluate import Evaluation, Presence
    from schemas.cases import AlertKind

    settings = settings.model_copy(update={"alerts_auto_confirm": True})
    venue_id = new_id(VENUE)
    start = datetime(2026, 11, 18, 8, tzinfo=timezone.utc)
    job = AlertsJob(settings, settings.kafka_bootstrap, reads=None)
    try:
        job.restore()
        cases = []
        for n in range(3):
            case = Case(case_id=new_id(CASE), person_id=new_id(PERSON), status=CaseStatus.confirmed,
                        onset=date(2026, 11, 19), registered_by="tracer:test",
                        registered_at=start + timedelta(days=2, hours=n))
            cases.append(case)
            job.cases[case.case_id] = case
            evaluation = Evaluation(case)
            evaluation.presence = {venue_id: Presence(start + timedelta(hours=n), start + timedelta(hours=n + 1), 1)}
            job.evaluations[case.case_id] = evaluation
        job.dirty_venues.add(venue_id)
        job._clusters()
        (first,) = [a for a in job.alerts.values() if a.kind is AlertKind.cluster]
        assert first.status is AlertStatus.confirmed and len(first.case_ids) == 3
        job.cases[cases[0].case_id] = cases[0].model_copy(update={"status": CaseStatus.cleared})
        job.dirty_venues.add(venue_id)
        job._clusters()
        clusters = [a for a in job.alerts.values() if a.kind is AlertKind.cluster]
        assert [(a.alert_id, a.status, a.case_ids) for a in clusters] == [
            (first.alert_id, AlertStatus.confirmed, [cases[1].case_id, cases[2].case_id])]
    finally:
        job.close()
