"""Records that cross a process boundary, the QR payload codec, and example payloads."""

from .accounts import Account
from .audit import AuditRecord
from .base import Record
from .cases import Alert, AlertDecision, AlertKind, AlertStatus, Case, CaseStatus, Contact
from .declarations import Declaration, DeclarationStatus, DeclaredBy, Symptom
from .dlq import DeadLetter, RejectReason
from .enrolment import ConfirmedBy, PhoneEnrolment
from .envelopes import Envelope
from .notifications import Notification
from .registry import Area, Device, DeviceKind, GateMode, Person, PersonalData, Venue, VenueCategory
from .scans import Direction, RawScan, ScanSource, ValidScan
from .visits import EntryHow, ExitHow, Visit

# Every record type, by the name used for its JSON Schema file and its examples folder.
RECORDS: dict[str, type[Record] | type[Envelope]] = {
    "raw_scan": RawScan,
    "envelope": Envelope,
    "valid_scan": ValidScan,
    "visit": Visit,
    "dead_letter": DeadLetter,
    "area": Area,
    "venue": Venue,
    "person": Person,
    "personal_data": PersonalData,
    "device": Device,
    "case": Case,
    "alert": Alert,
    "contact": Contact,
    "alert_decision": AlertDecision,
    "declaration": Declaration,
    "phone_enrolment": PhoneEnrolment,
    "account": Account,
    "audit": AuditRecord,
    "notification": Notification,
}

__all__ = [
    "RECORDS",
    "Account",
    "Alert",
    "AlertDecision",
    "AlertKind",
    "AlertStatus",
    "Area",
    "AuditRecord",
    "Case",
    "CaseStatus",
    "Contact",
    "ConfirmedBy",
    "DeadLetter",
    "Declaration",
    "DeclarationStatus",
    "DeclaredBy",
    "Envelope",
    "Device",
    "DeviceKind",
    "Direction",
    "EntryHow",
    "ExitHow",
    "GateMode",
    "Notification",
    "Person",
    "PersonalData",
    "PhoneEnrolment",
    "RawScan",
    "Record",
    "RejectReason",
    "ScanSource",
    "Symptom",
    "ValidScan",
    "Venue",
    "VenueCategory",
    "Visit",
]
