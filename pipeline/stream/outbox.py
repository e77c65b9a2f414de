"""What a batch of events sends downstream, gathered per topic and partition and sent at
the batch's end: valid scans, scans to repartition, visits.

With envelopes on (`RAVAO_WORKER_ENVELOPES`, the default) the records of one topic
partition go as envelopes (`schemas.envelopes`): one Kafka message for up to
`MAX_ENVELOPE_RECORDS` of them, instead of one each. Every reader of these topics
(the worker's own repartition agent, the sink, the alerting job, the web's live feed)
unpacks envelopes and handles each record as if it had come alone. With envelopes off,
each record is its own message, as before. Either way each record keeps its key's
partition (the person's), and the order of a partition's records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from schemas.envelopes import packed


@dataclass
class Outbox:
    # (topic, partition) -> [(key, value)], in the order they were added
    records: dict[tuple[str, int], list[tuple[bytes, bytes]]] = field(default_factory=dict)

    def add(self, topic: str, partition: int, key: bytes, value: bytes) -> None:
        self.records.setdefault((topic, partition), []).append((key, value))

    def __len__(self) -> int:
        return sum(len(records) for records in self.records.values())

    def messages(self, envelopes: bool) -> Iterator[tuple[str, int, bytes, bytes]]:
        """(topic, partition, key, value) to send: each record, or envelopes of them (`packed`
        sends a record alone as itself; an envelope's key is its first record's: a key of
        that partition)."""
        for (topic, partition), records in self.records.items():
            if not envelopes:
                for key, value in records:
                    yield topic, partition, key, value
                continue
            at = 0
            for count, message in packed(value for _, value in records):
                yield topic, partition, records[at][0], message
                at += count
