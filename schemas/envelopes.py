"""Envelopes: many records of one Kafka partition as one message.

A producer that knows each record's partition (the person's, by the same murmur2 as
Faust: the gateway, the simulator, the worker for its own output) may publish many
records as one message, which costs the broker, Faust and the producer one message
instead of many. The value is a JSON object that starts with ``{"envelope":``::

    {"envelope":1,"records":["{\\"schema_version\\":1,\\"event_id\\":...}", ...]}

Each element of ``records`` is, as a string, exactly the text one record's own message
would carry; the reader handles each on its own, as if it had come alone: a scan is
validated, deduplicated and paired, and refused with its own dead letter (its own bytes,
and its place in the envelope, ``source_index``). A message that does not start with
``{"envelope":`` is one record, as before envelopes: old producers and stations that
publish straight to Kafka keep working.

`pack` makes envelopes within `MAX_ENVELOPE_RECORDS` and `MAX_ENVELOPE_BYTES` (under
the topics' message size); `unpack` gives the records of any message, one for a
message that is not an envelope, and raises `EnvelopeError` for one that starts as an
envelope and is not one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PREFIX = b'{"envelope":'
FORMAT = 1
MAX_ENVELOPE_RECORDS = 1000
# The whole message: under the broker's default message size (1 MiB) with room to spare,
# so that an envelope the gateway or the worker sends is never refused for its size.
MAX_ENVELOPE_BYTES = 900 * 1024

RecordText = Annotated[str, Field(json_schema_extra={"contentMediaType": "application/json"},
                                  description="one record, as the text its own message would carry")]


class EnvelopeError(ValueError):
    """A message that starts as an envelope and is not one (the reason is for a dead letter)."""


class Envelope(BaseModel):
    """Many records of one Kafka partition as one message. A message whose value starts with
    `{"envelope":` is one; any other message is a single record. Each element of `records`
    is the text that record's own message would carry (a raw scan, a valid scan, a visit),
    and is read on its own, as if it had come alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    SCHEMA_VERSION: ClassVar[int] = FORMAT

    envelope: Literal[1] = Field(1, description="the envelope format; an envelope's value starts with "
                                 '`{"envelope":`')
    records: list[RecordText] = Field(min_length=1, max_length=MAX_ENVELOPE_RECORDS)

    def to_bytes(self) -> bytes:
        return _encode(self.records)

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Self:
        return cls.model_validate_json(data)


def _encode(texts: list[str]) -> bytes:
    return PREFIX + b"1," + b'"records":' + json.dumps(texts, ensure_ascii=False, separators=(",", ":")).encode() \
        + b"}"


def is_envelope(value: bytes | None) -> bool:
    return value is not None and value.startswith(PREFIX)


def unpack(value: bytes | None) -> list[bytes | None]:
    """The records a message carries: itself when it is not an envelope."""
    if not is_envelope(value):
        return [value]
    try:
        found = Envelope.model_validate_json(value)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'envelope'}: {e['msg']}" for e in exc.errors()[:3])
        raise EnvelopeError(f"not a valid envelope: {problems}") from None
    return [text.encode("utf-8") for text in found.records]


def pack(records: Iterable[bytes]) -> Iterator[bytes]:
    """Envelopes holding ``records`` in order, each within the limits; a record alone is
    sent as itself (no envelope for one)."""
    return (message for _, message in packed(records))


def packed(records: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """`pack`, each message with how many records it holds."""
    texts: list[str] = []
    size = len(PREFIX) + 16
    for record in records:
        text = record.decode("utf-8")
        # Its size inside the envelope: quoted, its quotes and backslashes escaped (a
        # record is compact JSON: no raw control characters to escape).
        cost = len(record) + record.count(b'"') + record.count(b"\\") + 3
        if texts and (len(texts) >= MAX_ENVELOPE_RECORDS or size + cost > MAX_ENVELOPE_BYTES):
            yield len(texts), _one(texts)
            texts, size = [], len(PREFIX) + 16
        texts.append(text)
        size += cost
    if texts:
        yield len(texts), _one(texts)


def _one(texts: list[str]) -> bytes:
    return texts[0].encode("utf-8") if len(texts) == 1 else _encode(texts)
