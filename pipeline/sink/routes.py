"""Which topic lands in which table, and how one message becomes one row.

A message is inserted as the JSON it already is, with the Kafka partition and offset
appended: no decoding, no re-encoding. An envelope (`schemas.envelopes`) is a row per
record, each at the envelope's partition and offset. The engine parses it into typed columns and
refuses what does not fit; fields the table does not keep (schema_version, phone numbers
in registry records) are skipped. Scans go to ``scans_incoming``, whose view drops event
ids already stored (migration 0024). A registry tombstone (no value) becomes a row with
the key and ``deleted = true``.

When the engine refuses a batch's rows, `Route.checked_row` sorts them out with the
record models: a message that is not a valid record becomes a dead-letter row instead of
stopping the sink.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from pydantic import ValidationError

from schemas import (Account, Alert, Area, AuditRecord, Case, Contact, DeadLetter, Declaration, Device, Notification,
                     Person, PersonalData, ValidScan, Venue, Visit)
from schemas.base import Record
from schemas.dlq import raw_fields

from ..topics import Topics

POSITION = b',"kafka_partition":%d,"kafka_offset":%d}'  # appended to a message's JSON


class Row(NamedTuple):
    """One message, ready to insert."""

    table: str
    line: bytes
    value: bytes | None  # the message as read (None: a tombstone's row), kept for checking


@dataclass(frozen=True)
class Route:
    topic: str
    table: str
    model: type[Record]
    key_field: str | None = None  # registry topics: the id column a tombstone fills
    # Its records may hold personal or health data (names, phones, a case's onset): a dead
    # letter of one keeps its length and where it is on the topic, never its bytes, since
    # dead_letters is readable by everyone the door lets in.
    personal: bool = False

    def row(self, key: bytes | None, value: bytes | None, partition: int, offset: int) -> Row | None:
        """The row for one message; None for a message that is not data."""
        if value is None:
            if self.key_field is None or key is None:
                return None  # a tombstone on a stream topic means nothing
            body = json.dumps({self.key_field: key.decode("utf-8", "replace"), "deleted": True}).encode()
            return Row(self.table, body[:-1] + POSITION % (partition, offset), None)
        return Row(self.table, value.rstrip()[:-1] + POSITION % (partition, offset), value)

    def checked_row(self, value: bytes, partition: int, offset: int, index: int | None = None) -> Row:
        """The row after checking the message (or an envelope's record, ``index``) against
        its record model: a dead letter if it is not a valid record."""
        try:
            self.model.model_validate_json(value)
        except ValidationError as exc:
            return dead_letter_row(self, value, partition, offset, exc, index)
        return Row(self.table, value.rstrip()[:-1] + POSITION % (partition, offset), value)


def dead_letter_row(route: Route, value: bytes, partition: int, offset: int, exc: ValidationError,
                    index: int | None = None) -> Row:
    """A message the sink cannot read, kept with its bytes. The message names the fields
    that failed, never their values (they may be personal data)."""
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['type']}" for e in exc.errors()[:5])
    return _dead_letter(route, value, partition, offset, f"the sink could not read a {route.model.__name__} "
                                                         f"({problems})", index)


def envelope_row(route: Route, value: bytes, partition: int, offset: int, error: str) -> Row:
    """A message that starts as an envelope and is not one (`schemas.envelopes`)."""
    return _dead_letter(route, value, partition, offset, f"the sink could not read an envelope on {route.topic} "
                                                         f"({error})")


def refused_row(route: Route, value: bytes, partition: int, offset: int, error: str, index: int | None = None) -> Row:
    """A valid record the warehouse refuses for its values, kept with its bytes. The
    engine's message quotes the row, so only its error code and name are kept."""
    code = re.search(r"Code: \d+\.", error)
    names = re.findall(r"\(([A-Z_]+)\)", error)
    what = " ".join(([code.group(0)] if code else []) + names[-1:]) or "no code"
    return _dead_letter(route, value, partition, offset,
                        f"the warehouse refused this {route.model.__name__} ({what}); fix the table or the "
                        "record, then replay its offset", index)


def _dead_letter(route: Route, value: bytes, partition: int, offset: int, message: str,
                 index: int | None = None) -> Row:
    row: dict[str, Any] = {
        "reason": "undecodable",
        "message": (message + ("; its bytes are not kept here (personal data): read them at their offset on "
                               "the topic" if route.personal else ""))[:1000],
        # Bounded: a topic may hold messages of about 1 MiB.
        **(raw_fields(value) if not route.personal else {**raw_fields(b""), "raw_length": len(value)}),
        "source_topic": route.topic,
        "source_partition": partition,
        "source_offset": offset,
        "source_index": index or 0,
        "event_id": "",
        "rejected_at": datetime.now(timezone.utc).isoformat(),
        "kafka_partition": partition,
        "kafka_offset": offset,
    }
    return Row("dead_letters", json.dumps(row).encode(), value)


def routes_for(topics: Topics) -> dict[str, Route]:
    """Every topic the sink reads, by name. Not `registry.phone_enrolments`: a person's
    enrolled public key answers no query, only the gateways need it, and the warehouse is
    read by many; the topic itself is the record."""
    routes = [
        Route(topics.scans_valid.name, "scans_incoming", ValidScan),
        Route(topics.visits.name, "visits", Visit),
        Route(topics.scans_dlq.name, "dead_letters", DeadLetter),
        Route(topics.areas.name, "areas", Area, "area_id"),
        Route(topics.venues.name, "venues", Venue, "venue_id", personal=True),
        Route(topics.persons.name, "persons", Person, "person_id", personal=True),
        Route(topics.personal_data.name, "personal_data", PersonalData, "person_id", personal=True),
        Route(topics.devices.name, "devices", Device, "device_id", personal=True),
        Route(topics.cases.name, "cases", Case, "case_id", personal=True),
        Route(topics.alerts.name, "alerts", Alert),
        # A case's contacts are health data about them: a dead letter keeps no bytes.
        Route(topics.contacts.name, "contacts", Contact, personal=True),
        Route(topics.audit.name, "audit_log", AuditRecord, personal=True),
        # A person's health answers: a dead letter of one keeps no bytes.
        Route(topics.declarations.name, "declarations", Declaration, personal=True),
        # Through a Null table whose view masks the phone (migrations 0027-0029).
        Route(topics.accounts.name, "accounts_incoming", Account, "phone", personal=True),
        # An SMS's recipient is a phone: through a Null table whose view masks it (0038-0040).
        # No tombstone lands: the notifier never deletes one, and retention drops them by day.
        Route(topics.notifications.name, "notifications_incoming", Notification, personal=True),
    ]
    return {route.topic: route for route in routes}
