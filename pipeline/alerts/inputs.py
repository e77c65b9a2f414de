"""Reading the alerting job's inputs: a record that is not valid is skipped and said,
never a crash the job would loop on at every restart."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from schemas.envelopes import EnvelopeError, unpack

from ..kafka_io import read_to_end, while_leaders_settle

log = logging.getLogger("pipeline.alerts.job")


def decode(model, value: bytes | None):
    if value is None:
        return None
    try:
        return model.from_bytes(value)
    except (ValidationError, ValueError):
        log.warning("alerts: a %s record that is not valid was skipped", model.__name__)
        return None


def decode_each(model, value: bytes | None) -> list:
    """The valid records of a message: one, or each of an envelope's (`schemas.envelopes`)."""
    try:
        values = unpack(value)
    except EnvelopeError:
        log.warning("alerts: an envelope of %s records that is not valid was skipped", model.__name__)
        return []
    return [record for record in map(lambda v: decode(model, v), values) if record is not None]


def apply_skipping(apply, topic: str, key: bytes, value: bytes | None) -> None:
    """A venue or account record into the directory; one that is not valid is skipped
    (its recipients are then not told)."""
    try:
        apply(key, value)
    except (ValueError, KeyError, TypeError, AttributeError):  # bad JSON, UTF-8 or shape
        log.warning("alerts: a record on %s that is not valid was skipped", topic)


def read_all(bootstrap: str, topic: str) -> list:
    """The whole of a topic, again while a new topic has no leader yet."""
    return while_leaders_settle(lambda: list(read_to_end(bootstrap, topic)))
