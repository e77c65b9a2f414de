"""Cases registered by the health authority, and what the alerting job makes of them:
venue and cluster alerts, a case's contact list, and a tracer's decisions on alerts.

    Case           `cases`, compacted by case id: the latest record is the case
    Alert          `alerts`, compacted by alert id: the latest version is the alert
    Contact        `contacts`, compacted by "<case id>:<person id>"
    AlertDecision  `alerts.decisions`, a tracer confirms an alert (`ravao alerts confirm`)

The alerting job is the only writer of `alerts` and `contacts`: a tracer's decision goes
to `alerts.decisions` and the job applies it, so that two writers never race for an
alert's next version.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from uuid import UUID, uuid5

from pydantic import Field, model_validator

from .base import Record, Timestamp, utcnow
from .ids import CASE, PERSON, VENUE, id_pattern

# Alert ids are derived, never drawn: re-running a case finds the same ids.
ALERT_NAMESPACE = UUID("5f1d7a52-5c0e-4f3e-9a51-0c4a1f6e2b71")
_CASE = re.compile(id_pattern(CASE))
MAX_CLUSTER_CASES = 20_000


class CaseStatus(StrEnum):
    confirmed = "confirmed"
    suspected = "suspected"
    cleared = "cleared"


class Case(Record):
    case_id: str = Field(pattern=id_pattern(CASE))
    person_id: str = Field(pattern=id_pattern(PERSON))
    status: CaseStatus
    onset: date
    # Health data about a person: kept on the topic and in the personal `cases` table only.
    note: str = Field("", max_length=500)
    registered_at: Timestamp = Field(default_factory=utcnow)  # the first registration, kept by updates
    registered_by: str = Field(min_length=1, max_length=100)
    updated_at: Timestamp | None = None  # the latest change (None: as registered)
    updated_by: str | None = Field(None, max_length=100)


class AlertKind(StrEnum):
    venue = "venue"  # a case was at the venue in its infectious window
    cluster = "cluster"  # k or more cases were at the venue within d days


class AlertStatus(StrEnum):
    proposed = "proposed"  # written by the job; nobody is told yet
    confirmed = "confirmed"  # by a tracer, or at once (RAVAO_ALERTS_AUTO_CONFIRM)
    notified = "notified"  # every notification reached an end (delivered, or given up: see `alerts status`)
    retracted = "retracted"  # the case was cleared, or a re-run no longer finds it


def venue_alert_id(case_id: str, venue_id: str) -> UUID:
    return uuid5(ALERT_NAMESPACE, f"venue:{case_id}:{venue_id}")


def cluster_alert_id(venue_id: str, first_case_id: str) -> UUID:
    """A cluster is named by its venue and the case that started it (its earliest presence)."""
    return uuid5(ALERT_NAMESPACE, f"cluster:{venue_id}:{first_case_id}")


class Alert(Record):
    """One version of an alert. No person in it: cases by id, people as a count."""

    alert_id: UUID
    version: int = Field(1, ge=1)
    kind: AlertKind = AlertKind.venue
    status: AlertStatus = AlertStatus.proposed
    venue_id: str = Field(pattern=id_pattern(VENUE))
    # A cluster at a hospital may hold many cases: 20,000 ids stay well inside a Kafka message.
    case_ids: list[str] = Field(min_length=1, max_length=MAX_CLUSTER_CASES)
    first_presence: Timestamp  # the case's (cluster: the cases') first time at the venue in the window
    last_presence: Timestamp
    visits: int = Field(ge=1)  # the case's visits there (cluster: all the cases' visits)
    exposed: int = Field(0, ge=0)  # distinct people present with the case(s) there (F1 at the venue)
    created_at: Timestamp = Field(default_factory=utcnow)  # version 1
    updated_at: Timestamp = Field(default_factory=utcnow)  # this version
    registered_at: Timestamp  # the registration (or status change) this version answers
    newest_scan_at: Timestamp | None = None  # the newest scan the job's reads used
    seconds_from_registration: float = Field(ge=0)
    seconds_from_newest_scan: float | None = Field(None, ge=0)
    reason: str = Field("", max_length=200)  # why this version: registered, late scans, confirmed by ...
    confirmed_by: str | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def _check(self) -> Alert:
        if self.last_presence < self.first_presence:
            raise ValueError("last_presence is before first_presence")
        if self.kind is AlertKind.venue and len(self.case_ids) != 1:
            raise ValueError("a venue alert names exactly one case")
        for case_id in self.case_ids:
            if not _CASE.match(case_id):
                raise ValueError(f"not a case id: {case_id[:20]!r}")
        return self


class Contact(Record):
    """One person on a case's contact list, as `ravao trace` computes it; ``removed`` when
    a re-run no longer finds them (or the case was cleared)."""

    case_id: str = Field(pattern=id_pattern(CASE))
    person_id: str = Field(pattern=id_pattern(PERSON))
    version: int = Field(1, ge=1)
    degree: int = Field(ge=1, le=2)
    overlap_seconds: int = Field(ge=0)
    overlaps: int = Field(ge=0)
    via: str = ""  # F2: the F1 contact they met
    venues: list[str] = Field(default_factory=list, max_length=1000)
    first_contact: Timestamp | None = None
    last_contact: Timestamp | None = None
    removed: bool = False
    updated_at: Timestamp = Field(default_factory=utcnow)

    def key(self) -> str:
        return f"{self.case_id}:{self.person_id}"


class Decision(StrEnum):
    confirm = "confirm"


class AlertDecision(Record):
    alert_id: UUID
    decision: Decision = Decision.confirm
    decided_by: str = Field(min_length=1, max_length=100)
    decided_at: Timestamp = Field(default_factory=utcnow)

