"""`ravao alerts confirm`: a tracer's decision goes to `alerts.decisions`, never to
`alerts`, which the job alone writes; the job applies it (`AlertsJob._on_decision`)."""

from __future__ import annotations

from uuid import UUID

from schemas.cases import Alert, AlertDecision, AlertStatus

from ..kafka_io import ensure_topics, produce_all, reliable_producer
from ..registry import read_latest
from ..settings import Settings
from ..topics import topics_for
from .cases import CaseError


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
