"""The alerting job (`ravao alerts`): from cases and the warehouse to venue alerts,
contact lists and cluster alerts, and on to their notifications.

It follows three topics with no consumer group (its state is on Kafka, not in offsets):

    cases             from the beginning: every case, evaluated when it is new, or its
                      status or onset changed (a note alone, a record sent twice, a replay:
                      nothing to evaluate)
    alerts.decisions  from the beginning: a tracer's confirmation of a proposed alert
    visits            from the end: the re-check trigger (below)

and reads `alerts` and `contacts` (its own output, compacted) once at start, so that a
restarted job knows every alert's version and status. It is the only writer of both.

An evaluation reads the warehouse through the query library as a tracer naming the case
(`Reads.person_visits`, `Reads.trace`: ids only, so nothing is audited), in the embedded
default through the sink's door. Each alert's new version is written only when what it
says changed (`evaluate.revise`); clusters are worked out once the evaluations due are
done, over every open case at the venues that changed.

When a re-check is due: `pipeline.alerts.triggers` (a visit of the case, at its venues
while it was there, or of an F1 with F2), once the sink has landed that visit, a second
after the latest such one; and every open case every RAVAO_ALERTS_RECHECK_SECONDS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, TopicPartition

from schemas.base import utcnow
from schemas.cases import Alert, AlertDecision, AlertKind, AlertStatus, Case, CaseStatus, Contact
from schemas.visits import Visit

from ..access.caller import Caller, Grant, Role
from ..access.policy import Denied
from ..kafka_io import ensure_topics, produce_all, reliable_producer, while_leaders_settle
from ..settings import Settings
from ..topics import groups_for, topics_for
from ..warehouse.base import WarehouseError
from ..warehouse.queries import load, run
from ..warehouse.trace import TraceRequest
from . import evaluate
from .evaluate import Evaluation
from .clusters import cluster_versions
from .inputs import apply_skipping, decode, decode_each, read_all
from .metrics import AlertsMetrics
from .triggers import QUICK_TRIES, SETTLE_SECONDS, Pending, Triggers

log = logging.getLogger(__name__)

CALLER = Caller(actor="service:alerts", grants=(Grant(Role.tracer),))


class AlertsJob:
    def __init__(self, settings: Settings, bootstrap: str, reads, *, notifier=None, directory=None,
                 clock: Callable[[], datetime] = utcnow, monotonic: Callable[[], float] = time.monotonic,
                 metrics: AlertsMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or AlertsMetrics()
        self.bootstrap = bootstrap
        self.topics = topics_for(settings)
        self.reads = reads
        self.notifier = notifier
        # The venues and accounts the notifier asks for recipients (`AccountDirectory`),
        # kept current from `registry.venues` and `accounts` by this job's consumer.
        self.directory = directory
        self.clock = clock
        self.monotonic = monotonic
        self.alerts: dict[UUID, Alert] = {}
        self.contacts: dict[str, dict[str, Contact]] = {}  # case id -> person id -> latest version
        self.cases: dict[str, Case] = {}
        self.evaluated: dict[str, tuple] = {}  # case id -> (status, onset) of its latest evaluation
        self.evaluations: dict[str, Evaluation] = {}
        self.pending: dict[str, Pending] = {}
        self.dirty_venues: set[str] = set()
        self.settled: list[UUID] = []
        self._index: Triggers | None = None
        self._consumer: Consumer | None = None
        self._producer = None
        self._catching_up: dict[int, int] = {}  # cases partition -> end offset at start
        self._seen_visits: dict[int, int] = {}  # visits partition -> next offset after the latest one read
        self._next_recheck = 0.0
        self.evaluations_done = 0

    # -- start -------------------------------------------------------------------------

    def restore(self) -> None:
        """The job's own output so far, and the live consumer, positioned (each read tried
        again while topics created a moment ago have no leader: `while_leaders_settle`)."""
        ensure_topics(self.bootstrap, [self.topics.cases, self.topics.alerts, self.topics.contacts,
                                       self.topics.alert_decisions, self.topics.visits],
                      self.settings.topic_replication)
        for key, value, _p, _o in read_all(self.bootstrap, self.topics.alerts.name):
            alert = decode(Alert, value)
            if alert is not None and (alert.alert_id not in self.alerts
                                      or alert.version > self.alerts[alert.alert_id].version):
                self.alerts[alert.alert_id] = alert
        for key, value, _p, _o in read_all(self.bootstrap, self.topics.contacts.name):
            contact = decode(Contact, value)
            if contact is not None:
                known = self.contacts.setdefault(contact.case_id, {}).get(contact.person_id)
                if known is None or contact.version > known.version:
                    self.contacts[contact.case_id][contact.person_id] = contact
        consumer = self._consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": groups_for(self.settings).alerts,
                                              "enable.auto.commit": False, "enable.partition.eof": True,
                                              "log_level": 3})
        assignment = []
        if self.directory is not None:  # whole before any alert is offered: recipients are looked up in it
            for spec, apply in ((self.topics.venues, self.directory.apply_venue),
                                (self.topics.accounts, self.directory.apply_account)):
                ensure_topics(self.bootstrap, [spec], self.settings.topic_replication)
                next_offsets = {p: OFFSET_BEGINNING for p in range(spec.partitions)}
                for key, value, partition, offset in read_all(self.bootstrap, spec.name):
                    if key is not None:
                        apply_skipping(apply, spec.name, key, value)
                    next_offsets[partition] = offset + 1
                assignment += [TopicPartition(spec.name, p, o) for p, o in next_offsets.items()]
        for spec, start in ((self.topics.cases, OFFSET_BEGINNING), (self.topics.alert_decisions, OFFSET_BEGINNING),
                            (self.topics.visits, OFFSET_END)):
            for partition in range(spec.partitions):
                if spec is self.topics.alert_decisions:
                    assignment.append(TopicPartition(spec.name, partition, start))
                    continue
                low, high = while_leaders_settle(lambda: consumer.get_watermark_offsets(
                    TopicPartition(spec.name, partition), timeout=15))
                if spec is self.topics.visits:
                    # The end as of now, as a number: "the end" would be looked up at the first
                    # fetch, and a visit published in between would never be seen.
                    assignment.append(TopicPartition(spec.name, partition, high))
                    continue
                assignment.append(TopicPartition(spec.name, partition, start))
                if high > low:
                    self._catching_up[partition] = high
        self._consumer = consumer
        consumer.assign(assignment)
        self._producer = reliable_producer(self.bootstrap)
        if self.notifier is not None:
            for alert in self.alerts.values():
                self.notifier.offer(alert)
        self._next_recheck = self.monotonic() + self.settings.alerts_recheck_seconds
        log.info("alerts: %d alerts and %d contact lists restored; reading cases", len(self.alerts),
                 len(self.contacts))

    # -- the loop ----------------------------------------------------------------------

    def run_forever(self, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            self.poll(0.2)
            self.step()

    def poll(self, timeout: float) -> int:
        # The first message as soon as it comes (consume() would wait out its timeout for a
        # full batch), then whatever else is already here.
        first = self._consumer.poll(timeout)
        messages = [] if first is None else [first] + self._consumer.consume(499, 0)
        for message in messages:
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("alerts: reading %s: %s", message.topic(), message.error())
                elif message.topic() == self.topics.cases.name:
                    # The end offset need not be a record we see (a transaction's marker, a
                    # tombstone the cleaner removed): the end of the partition is the end.
                    self._catching_up.pop(message.partition(), None)
                continue
            topic = message.topic()
            if topic == self.topics.cases.name:
                self._on_case(message.key(), message.value())
                end = self._catching_up.get(message.partition())
                if end is not None and message.offset() + 1 >= end:
                    del self._catching_up[message.partition()]
            elif topic == self.topics.alert_decisions.name:
                decision = decode(AlertDecision, message.value())
                if decision is not None:
                    self._on_decision(decision)
            elif topic == self.topics.visits.name:
                self._seen_visits[message.partition()] = message.offset() + 1
                for visit in decode_each(Visit, message.value()):  # one, or an envelope's
                    self._on_visit(visit, message.partition(), message.offset())
            elif self.directory is not None and message.key() is not None:
                if topic == self.topics.venues.name:
                    apply_skipping(self.directory.apply_venue, topic, message.key(), message.value())
                elif topic == self.topics.accounts.name:
                    apply_skipping(self.directory.apply_account, topic, message.key(), message.value())
        return len(messages)

    @property
    def caught_up(self) -> bool:
        return not self._catching_up

    def step(self) -> int:
        """Evaluate what is due and ready, then clusters, then deliveries."""
        now = self.monotonic()
        if self.caught_up and now >= self._next_recheck:
            self._next_recheck = now + self.settings.alerts_recheck_seconds
            for case_id, case in self.cases.items():
                if case.status is not CaseStatus.cleared and case_id not in self.pending:
                    self.pending[case_id] = Pending(now, "periodic re-check")
        done = 0
        if self.caught_up:
            landed = self._landed() if any(p.needs for p in self.pending.values()) else {}
            for case_id, pending in sorted(self.pending.items(), key=lambda item: item[1].due):
                if pending.due > now or any(landed.get(p, 0) < o for p, o in pending.needs.items()):
                    continue
                if self._evaluate(case_id, pending):
                    del self.pending[case_id]
                    done += 1
                else:
                    self.metrics.evaluated(False)
                    pending.tries += 1
                    pending.due = self.monotonic() + pending.retry_in()
            if self.dirty_venues and not any(p.initial for p in self.pending.values()):
                self._clusters()
        while self.settled:
            self._mark_notified(self.settled.pop(0))
        return done

    def _landed(self) -> dict[int, int]:
        try:
            rows = run(self.reads.warehouse, load("sink_positions"), {"topic": self.topics.visits.name}).rows
        except WarehouseError as exc:
            log.warning("alerts: the warehouse cannot say what it has landed yet (%s)", exc)
            return {}
        return {int(p): int(o) for p, o in rows}

    # -- inputs ------------------------------------------------------------------------

    def _on_case(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:  # a tombstone: the case was withdrawn entirely; retract as cleared
            case_id = key.decode(errors="replace") if key is not None else None
            if case_id not in self.cases:
                return
            case = self.cases[case_id].model_copy(update={"status": CaseStatus.cleared})
        else:
            case = decode(Case, value)
            if case is None:
                return
        self.cases[case.case_id] = case
        if self.evaluated.get(case.case_id) == (case.status, case.onset):
            return
        if case.case_id not in self.evaluated and case.status is CaseStatus.cleared and not self._has_live(case):
            self.evaluated[case.case_id] = (case.status, case.onset)  # cleared with nothing out: nothing to do
            return
        previous = self.evaluated.get(case.case_id)
        reason = ("registered" if previous is None
                  else "case cleared" if case.status is CaseStatus.cleared
                  else f"status changed to {case.status}" if previous[0] != case.status else "onset changed")
        # Every visit read so far must be in the warehouse first: one that came just before
        # the case (a late upload of the case's own scans) is then in its first evaluation.
        self.pending[case.case_id] = Pending(self.monotonic(), reason, initial=not self.caught_up,
                                             needs=dict(self._seen_visits))
        self._index = None

    def _has_live(self, case: Case) -> bool:
        return any(case.case_id in a.case_ids and a.status is not AlertStatus.retracted for a in self.alerts.values()) \
            or any(not c.removed for c in self.contacts.get(case.case_id, {}).values())

    def _on_decision(self, decision: AlertDecision) -> None:
        alert = self.alerts.get(decision.alert_id)
        if alert is None or alert.status is not AlertStatus.proposed:
            return  # unknown, or decided already: a decision is applied once
        if decision.decided_at < alert.registered_at:
            # Made before the registration or status change this version answers (a case
            # cleared and re-opened): replayed at a restart, it must not confirm in a
            # tracer's name what the tracer never saw. They confirm it again.
            log.info("alerts: a decision on alert %s older than its version %d was not applied", alert.alert_id,
                     alert.version)
            return
        now = self.clock()
        self._write([alert.model_copy(update={"version": alert.version + 1, "status": AlertStatus.confirmed,
                                              "confirmed_by": decision.decided_by, "updated_at": now,
                                              "reason": f"confirmed by {decision.decided_by}"})], [])

    def _on_visit(self, visit: Visit, partition: int, offset: int) -> None:
        if self._index is None:
            self._index = Triggers.of(self.cases, self.evaluations, self.settings.alerts_contact_depth)
        now = self.monotonic()
        for case_id in self._index.marked_by(visit):
            pending = self.pending.get(case_id)
            if pending is None:
                pending = self.pending[case_id] = Pending(now + SETTLE_SECONDS, "new visits")
            else:
                pending.due = max(pending.due, now + SETTLE_SECONDS)
            pending.needs[partition] = max(pending.needs.get(partition, 0), offset + 1)

    # -- evaluation --------------------------------------------------------------------

    def _evaluate(self, case_id: str, pending: Pending) -> bool:
        """One case's alerts and contacts, written where they changed; False when the
        warehouse cannot answer yet (the case not landed, the sink away)."""
        case = self.cases[case_id]
        started = time.perf_counter()
        now = self.clock()
        evaluation = Evaluation(case)
        if case.status is not CaseStatus.cleared:
            start, end = evaluate.window(case, now, self.settings.case_window_days_before_onset)
            try:
                visits = self.reads.person_visits(CALLER, case.person_id, start, end, purpose=case_id).dicts()
                request = TraceRequest(case.person_id, start, end, self.settings.alerts_min_overlap_seconds,
                                       self.settings.alerts_contact_depth)
                rows = self.reads.trace(CALLER, request, purpose=case_id).dicts()
            except Denied:
                return False  # the case is not in the warehouse yet
            except WarehouseError as exc:
                if pending.tries in (0, QUICK_TRIES) or pending.tries % 20 == 0:  # said once in a while, not every try
                    log.warning("alerts: case %s cannot be evaluated yet (try %d): %s", case_id, pending.tries + 1, exc)
                return False
            evaluation.presence = evaluate.presences(visits, start, end)
            evaluation.newest_scan_at = evaluate.newest_scan(visits)
            evaluation.contacts = {row["person_id"]: evaluate.contact_from_row(case_id, row) for row in rows}
            evaluation.exposed = evaluate.exposed_at(evaluation.contacts.values())
        registered_at = case.updated_at or case.registered_at
        reason = pending.reason
        drafts = evaluate.venue_alerts(evaluation)
        mine = {a.alert_id: a for a in self.alerts.values() if a.kind is AlertKind.venue and a.case_ids == [case_id]}
        alerts = []
        for alert_id in sorted(set(drafts) | set(mine), key=str):
            new = evaluate.revise(mine.get(alert_id), drafts.get(alert_id), now=now, registered_at=registered_at,
                                  newest_scan_at=evaluation.newest_scan_at,
                                  reason=reason if alert_id in drafts or reason == "case cleared"
                                  else "no longer in the case's visits",
                                  auto_confirm=self.settings.alerts_auto_confirm)
            if new is not None:
                alerts.append(new)
        known = self.contacts.get(case_id, {})
        contacts = []
        for person in sorted(set(known) | set(evaluation.contacts)):
            new = evaluate.revise_contact(known.get(person), evaluation.contacts.get(person), case_id, person, now)
            if new is not None:
                contacts.append(new)
        previous = self.evaluations.get(case_id)
        self.dirty_venues |= set(evaluation.presence) | (set(previous.presence) if previous else set())
        self.dirty_venues |= {a.venue_id for a in mine.values()}
        self.evaluations[case_id] = evaluation
        self.evaluated[case_id] = (case.status, case.onset)
        self._index = None
        self._write(alerts, contacts)
        self.evaluations_done += 1
        self.metrics.evaluated(True, time.perf_counter() - started)
        log.info("alerts: case %s evaluated (%s) in %.2fs: %d venues, %d contacts; %d alert and %d contact "
                 "versions written", case_id, reason, time.perf_counter() - started, len(evaluation.presence),
                 len(evaluation.contacts), len(alerts), len(contacts))
        return True

    def _clusters(self) -> None:
        written = []
        for venue in sorted(self.dirty_venues):
            existing = {a.alert_id: a for a in self.alerts.values()
                        if a.kind is AlertKind.cluster and a.venue_id == venue}
            written += cluster_versions(venue, self.cases, self.evaluations, existing, self.settings, self.clock())
        self.dirty_venues.clear()
        if written:
            self._write(written, [])
            log.info("alerts: %d cluster alert versions written", len(written))

    def _mark_notified(self, alert_id: UUID) -> None:
        alert = self.alerts.get(alert_id)
        if alert is None or alert.status is not AlertStatus.confirmed:
            return
        self._write([alert.model_copy(update={"version": alert.version + 1, "status": AlertStatus.notified,
                                              "updated_at": self.clock(),
                                              "reason": "every notification delivered or given up"})], [])

    def on_settled(self, alert_id: UUID) -> None:
        """The notifier's word that an alert's notifications have all reached an end (from
        the notifier's thread: a list's append is atomic)."""
        self.settled.append(alert_id)

    # -- output ------------------------------------------------------------------------

    def _write(self, alerts: list[Alert], contacts: list[Contact]) -> None:
        """Publish, wait for the broker's ack, then take them as the job's state."""
        if contacts:
            produce_all(self._producer, self.topics.contacts.name,
                        [(c.key().encode(), c.to_bytes()) for c in contacts])
        if alerts:
            produce_all(self._producer, self.topics.alerts.name,
                        [(str(a.alert_id).encode(), a.to_bytes()) for a in alerts])
        self.metrics.wrote(alerts, len(contacts))
        for contact in contacts:
            self.contacts.setdefault(contact.case_id, {})[contact.person_id] = contact
        for alert in alerts:
            self.alerts[alert.alert_id] = alert
            if self.notifier is not None:
                self.notifier.offer(alert)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        if self._producer is not None:
            self._producer.flush(10)
        if self.notifier is not None:
            self.notifier.close()
