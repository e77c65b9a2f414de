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

When a re-check is due. A visit that reaches `visits` (a late station upload, a revised
exit) can change a case's answer when it is the case's own visit in the window, or when
it lies at a venue and within the time the case was there (its exposed count and
contacts), or, with F2, when it is an F1 contact's. Such a visit marks the case, with the
visit's offset: the case is evaluated again once the sink has landed that offset
(`sink_positions`), a second after the latest such visit, so a burst makes one
evaluation. Every open case is also evaluated every RAVAO_ALERTS_RECHECK_SECONDS, for what
the trigger does not see (an F2's own visits, a visit withdrawn by a later version that
never reached the case's venues).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import ValidationError

from schemas.base import utcnow
from schemas.cases import Alert, AlertDecision, AlertKind, AlertStatus, Case, CaseStatus, Contact
from schemas.visits import Visit

from ..access.caller import Caller, Grant, Role
from ..access.policy import Denied
from ..kafka_io import ensure_topics, produce_all, read_to_end, reliable_producer
from ..registry import read_latest
from ..settings import Settings
from ..topics import topics_for
from ..warehouse.base import WarehouseError
from ..warehouse.queries import load, run
from ..warehouse.trace import TraceRequest
from . import evaluate
from .cases import CaseError
from .evaluate import Evaluation
from .outbox import LEADER_NOT_YET

log = logging.getLogger(__name__)

SETTLE_SECONDS = 1.0  # a re-check waits this long after the latest visit that asked for it
# A case the warehouse cannot answer for yet (it lands within the sink's batch time of its
# registration; the sink may be restarting): tried again every 0.2 s for the first two
# seconds, then after a pause doubling up to 30 s.
RETRY_SECONDS = 0.2
QUICK_TRIES = 10
RETRY_MAX_SECONDS = 30.0
CALLER = Caller(actor="service:alerts", grants=(Grant(Role.tracer),))


def _retried(call, tries: int = 20):
    """``call()``, again while a topic just created (or a broker just started) has no
    leader yet: the job's first start must not crash on it."""
    for attempt in range(tries):
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0]
            if attempt == tries - 1 or not (error.retriable() or error.code() in LEADER_NOT_YET):
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def _keep_names(drafts: dict, existing: dict) -> dict:
    """A cluster that lost the case it was named after (cleared) keeps its alert: a draft
    under a new name takes over the live cluster alert it shares cases with, so its
    recipients get a revision, not "withdrawn, no action needed" and a new alert."""
    live = [a for a in existing.values() if a.status is not AlertStatus.retracted]
    taken = set(drafts)
    kept = {}
    for alert_id, draft in drafts.items():
        if alert_id not in existing or existing[alert_id].status is AlertStatus.retracted:
            heir = next((a for a in live if a.alert_id not in taken and set(a.case_ids) & set(draft.case_ids)), None)
            if heir is not None:
                taken.add(heir.alert_id)
                alert_id, draft = heir.alert_id, draft.model_copy(update={"alert_id": heir.alert_id})
        kept[alert_id] = draft
    return kept


def _read_all(bootstrap: str, topic: str) -> list:
    return _retried(lambda: list(read_to_end(bootstrap, topic)))


@dataclass
class Pending:
    """A case to evaluate: when, why, and which visits the warehouse must have first."""

    due: float
    reason: str
    initial: bool = False  # found while catching up with `cases` at start
    needs: dict[int, int] = field(default_factory=dict)  # visits partition -> next offset that must be landed
    tries: int = 0  # evaluations the warehouse could not answer yet

    def retry_in(self) -> float:
        return min(RETRY_MAX_SECONDS, RETRY_SECONDS * 2 ** max(0, self.tries - QUICK_TRIES))


class AlertsJob:
    def __init__(self, settings: Settings, bootstrap: str, reads, *, notifier=None, directory=None,
                 clock: Callable[[], datetime] = utcnow, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
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
        self._index: tuple[dict, dict] | None = None
        self._consumer: Consumer | None = None
        self._producer = None
        self._catching_up: dict[int, int] = {}  # cases partition -> end offset at start
        self._seen_visits: dict[int, int] = {}  # visits partition -> next offset after the latest one read
        self._next_recheck = 0.0
        self.evaluations_done = 0

    # -- start -------------------------------------------------------------------------

    def restore(self) -> None:
        """The job's own output so far, and the live consumer, positioned (each read tried
        again while topics created a moment ago have no leader: `_retried`)."""
        ensure_topics(self.bootstrap, [self.topics.cases, self.topics.alerts, self.topics.contacts,
                                       self.topics.alert_decisions, self.topics.visits],
                      self.settings.topic_replication)
        for key, value, _p, _o in _read_all(self.bootstrap, self.topics.alerts.name):
            alert = self._decode(Alert, value)
            if alert is not None and (alert.alert_id not in self.alerts
                                      or alert.version > self.alerts[alert.alert_id].version):
                self.alerts[alert.alert_id] = alert
        for key, value, _p, _o in _read_all(self.bootstrap, self.topics.contacts.name):
            contact = self._decode(Contact, value)
            if contact is not None:
                known = self.contacts.setdefault(contact.case_id, {}).get(contact.person_id)
                if known is None or contact.version > known.version:
                    self.contacts[contact.case_id][contact.person_id] = contact
        consumer = self._consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "ravao-alerts",
                                              "enable.auto.commit": False, "enable.partition.eof": True,
                                              "log_level": 3})
        assignment = []
        if self.directory is not None:  # whole before any alert is offered: recipients are looked up in it
            for spec, apply in ((self.topics.venues, self.directory.apply_venue),
                                (self.topics.accounts, self.directory.apply_account)):
                ensure_topics(self.bootstrap, [spec], self.settings.topic_replication)
                next_offsets = {p: OFFSET_BEGINNING for p in range(spec.partitions)}
                for key, value, partition, offset in _read_all(self.bootstrap, spec.name):
                    if key is not None:
                        self._apply(apply, spec.name, key, value)
                    next_offsets[partition] = offset + 1
                assignment += [TopicPartition(spec.name, p, o) for p, o in next_offsets.items()]
        for spec, start in ((self.topics.cases, OFFSET_BEGINNING), (self.topics.alert_decisions, OFFSET_BEGINNING),
                            (self.topics.visits, OFFSET_END)):
            for partition in range(spec.partitions):
                if spec is self.topics.alert_decisions:
                    assignment.append(TopicPartition(spec.name, partition, start))
                    continue
                low, high = _retried(lambda: consumer.get_watermark_offsets(
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

    @staticmethod
    def _apply(apply, topic: str, key: bytes, value: bytes | None) -> None:
        """A venue or account record into the directory; one that is not valid is skipped
        (its recipients are then not told), never a crash the job would loop on."""
        try:
            apply(key, value)
        except (ValueError, KeyError, TypeError, AttributeError):  # bad JSON, UTF-8 or shape
            log.warning("alerts: a record on %s that is not valid was skipped", topic)

    @staticmethod
    def _decode(model, value: bytes | None):
        if value is None:
            return None
        try:
            return model.from_bytes(value)
        except (ValidationError, ValueError):
            log.warning("alerts: a %s record that is not valid was skipped", model.__name__)
            return None

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
                decision = self._decode(AlertDecision, message.value())
                if decision is not None:
                    self._on_decision(decision)
            elif topic == self.topics.visits.name:
                self._seen_visits[message.partition()] = message.offset() + 1
                visit = self._decode(Visit, message.value())
                if visit is not None:
                    self._on_visit(visit, message.partition(), message.offset())
            elif self.directory is not None and message.key() is not None:
                if topic == self.topics.venues.name:
                    self._apply(self.directory.apply_venue, topic, message.key(), message.value())
                elif topic == self.topics.accounts.name:
                    self._apply(self.directory.apply_account, topic, message.key(), message.value())
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
            case = self._decode(Case, value)
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
        by_person, by_venue = self._indexes()
        marked = set(by_person.get(visit.person_id, ()))
        for case_id, first, last in by_venue.get(visit.venue_id, ()):
            if visit.t_in < last and visit.t_out > first:
                marked.add(case_id)
        now = self.monotonic()
        for case_id in marked:
            pending = self.pending.get(case_id)
            if pending is None:
                pending = self.pending[case_id] = Pending(now + SETTLE_SECONDS, "new visits")
            else:
                pending.due = max(pending.due, now + SETTLE_SECONDS)
            pending.needs[partition] = max(pending.needs.get(partition, 0), offset + 1)

    def _indexes(self) -> tuple[dict, dict]:
        """Whose visits and which venues' visits can change which open case."""
        if self._index is None:
            by_person: dict[str, set[str]] = {}
            by_venue: dict[str, list] = {}
            for case_id, case in self.cases.items():
                if case.status is CaseStatus.cleared:
                    continue
                by_person.setdefault(case.person_id, set()).add(case_id)
                evaluation = self.evaluations.get(case_id)
                if evaluation is None:
                    continue
                for venue, there in evaluation.presence.items():
                    by_venue.setdefault(venue, []).append((case_id, there.first, there.last))
                if self.settings.alerts_contact_depth >= 2:
                    for contact in evaluation.contacts.values():
                        if contact.degree == 1:
                            by_person.setdefault(contact.person_id, set()).add(case_id)
            self._index = (by_person, by_venue)
        return self._index

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
        log.info("alerts: case %s evaluated (%s) in %.2fs: %d venues, %d contacts; %d alert and %d contact "
                 "versions written", case_id, reason, time.perf_counter() - started, len(evaluation.presence),
                 len(evaluation.contacts), len(alerts), len(contacts))
        return True

    def _clusters(self) -> None:
        now = self.clock()
        written = []
        k, days = self.settings.alerts_cluster_cases, self.settings.alerts_cluster_days
        for venue in sorted(self.dirty_venues):
            members = {}
            for case_id, evaluation in self.evaluations.items():
                case = self.cases.get(case_id)
                if case is None or case.status is CaseStatus.cleared or venue not in evaluation.presence:
                    continue
                members[case_id] = (case, evaluation.presence[venue], evaluation.exposed.get(venue, frozenset()))
            drafts = evaluate.clusters(venue, members, k, days)
            existing = {a.alert_id: a for a in self.alerts.values()
                        if a.kind is AlertKind.cluster and a.venue_id == venue}
            drafts = _keep_names(drafts, existing)
            for alert_id in sorted(set(drafts) | set(existing), key=str):
                draft = drafts.get(alert_id)
                cases = [self.cases[c] for c in (draft.case_ids if draft else existing[alert_id].case_ids)
                         if c in self.cases]
                registered_at = max((c.updated_at or c.registered_at for c in cases), default=now)
                newest = [self.evaluations[c.case_id].newest_scan_at for c in cases
                          if c.case_id in self.evaluations and self.evaluations[c.case_id].newest_scan_at]
                reason = (f"{len(draft.case_ids)} cases within {days} days" if draft
                          else f"fewer than {k} cases within {days} days")
                new = evaluate.revise(existing.get(alert_id), draft, now=now, registered_at=registered_at,
                                      newest_scan_at=max(newest) if newest else None, reason=reason,
                                      auto_confirm=self.settings.alerts_auto_confirm)
                if new is not None:
                    written.append(new)
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


def confirm(settings: Settings, bootstrap: str, alert_id: UUID, by: str) -> Alert:
    """`ravao alerts confirm`: a tracer's decision, for the job to apply."""
    topics = topics_for(settings)
    alert = read_latest(bootstrap, topics.alerts, Alert, skip_invalid=True).get(str(alert_id))
    if alert is None:
        raise CaseError(f"no alert {alert_id}: `ravao alerts list` shows them")
    if alert.status is AlertStatus.retracted:
        raise CaseError(f"alert {alert_id} was retracted (version {alert.version}: {alert.reason}); nothing to confirm")
    if alert.status is not AlertStatus.proposed:
        return alert
    ensure_topics(bootstrap, [topics.alert_decisions], settings.topic_replication)
    producer = reliable_producer(bootstrap)
    decision = AlertDecision(alert_id=alert_id, decided_by=by)
    produce_all(producer, topics.alert_decisions.name, [(str(alert_id).encode(), decision.to_bytes())])
    return alert
