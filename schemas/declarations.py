"""Health declarations (khai báo y tế): a person's own answers, on `declarations` (keyed
by person id) and in the personal `declarations` table, never inside a QR code.

A scan carries only the person's `DeclarationStatus` at the time of the scan, never the
answers: `status_at(declarations, at, current_days)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4

from pydantic import Field

from .base import Record, Timestamp, utcnow
from .ids import PERSON, id_pattern


class Symptom(StrEnum):
    """The fixed list a person ticks (the Ministry of Health's usual questions)."""

    fever = "fever"
    cough = "cough"
    shortness_of_breath = "shortness_of_breath"
    sore_throat = "sore_throat"
    loss_of_taste_or_smell = "loss_of_taste_or_smell"
    fatigue = "fatigue"
    muscle_pain = "muscle_pain"
    diarrhoea = "diarrhoea"


class DeclaredBy(StrEnum):
    self = "self"  # the person, from the self check-in page (their enrolled phone)
    guard = "guard"  # a guard or station, on the person's behalf
    cli = "cli"  # `ravao person declare`
    api = "api"  # `POST /api/v1/declarations` with a service credential


class DeclarationStatus(StrEnum):
    """What a scan, the gateway's answer and a guard's screen show: a word and a colour."""

    none = "none"  # no current declaration (grey)
    ok = "ok"  # declared, no symptoms, no contact (green)
    symptoms = "symptoms"  # declared symptoms (red)
    exposed = "exposed"  # declared contact with a case, no symptoms (amber)


class Declaration(Record):
    declaration_id: UUID = Field(default_factory=uuid4)
    person_id: str = Field(pattern=id_pattern(PERSON))
    declared_on: date  # the day it is for (the person's local day)
    declared_at: Timestamp = Field(default_factory=utcnow)
    symptoms: list[Symptom] = Field(default_factory=list, max_length=len(Symptom))
    contact_with_case: bool = False
    travel: str = Field("", max_length=200)  # where from, in the person's words ("" : none)
    declared_by: DeclaredBy = DeclaredBy.self
    device_id: str | None = Field(None, max_length=40)  # the guard's device or session, if any

    def status(self) -> DeclarationStatus:
        if self.symptoms:
            return DeclarationStatus.symptoms
        if self.contact_with_case:
            return DeclarationStatus.exposed
        return DeclarationStatus.ok


def status_at(declarations: Iterable[Declaration], at: datetime, current_days: int) -> DeclarationStatus:
    """The person's status at ``at``: their latest declaration made at or before ``at``,
    if it was made less than ``current_days`` days before it; `none` otherwise."""
    latest: Declaration | None = None
    for declaration in declarations:
        if declaration.declared_at <= at and (latest is None or declaration.declared_at > latest.declared_at):
            latest = declaration
    if latest is None or at - latest.declared_at >= timedelta(days=current_days):
        return DeclarationStatus.none
    return latest.status()

