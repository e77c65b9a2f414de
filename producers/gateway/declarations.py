"""Health declarations as the gateway sees them: what a self declaration's phone signs, and
the word and colour a screen shows for a status.

What the gateway keeps. A scan's answer carries the person's `DeclarationStatus` at the scan
time, never the answers; so the gateway keeps no answers either: the worker's follower of
`declarations` (`pipeline.stream.declaration_follower`) fills the same bounded memory of
times and statuses as the worker's (`pipeline.recent_declarations`, which says what it
holds and costs), reading the topic from `RAVAO_DECLARATION_CURRENT_DAYS` +
`RAVAO_ACCEPTED_LATENESS_HOURS` before now (Kafka's offsets by time), not from the
beginning of the retention period, so a gateway starts in seconds whatever the topic holds.

What a self declaration signs: these lines, joined by ``\\n``, in UTF-8 (sent_at in whole
milliseconds since 1970 UTC; symptoms in the list's order, joined by ``,``)::

    ravao-declaration/1
    <person id>
    <declaration id, lower-case>
    <declared_on, YYYY-MM-DD>
    <symptoms>
    <contact with a case: 1 or 0>
    <travel>
    <sent_at>
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from uuid import UUID

from schemas.declarations import DeclarationStatus, Symptom

from .phone import millis

PREFIX = "ravao-declaration/1"
# What the screens show: a word and a colour, never the answers.
COLOURS = {DeclarationStatus.none: "grey", DeclarationStatus.ok: "green", DeclarationStatus.exposed: "amber",
           DeclarationStatus.symptoms: "red"}
SYMPTOM_ORDER = {s: i for i, s in enumerate(Symptom)}


def signed_bytes(person_id: str, declaration_id: UUID, declared_on: date, symptoms: Iterable[Symptom],
                 contact_with_case: bool, travel: str, sent_at: datetime | None) -> bytes:
    ordered = sorted(set(symptoms), key=SYMPTOM_ORDER.__getitem__)
    return "\n".join((PREFIX, person_id, str(declaration_id), declared_on.isoformat(),
                      ",".join(s.value for s in ordered), "1" if contact_with_case else "0", travel,
                      millis(sent_at))).encode()
