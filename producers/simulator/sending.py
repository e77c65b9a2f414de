"""Publishing the simulated province: its registry first, then its scans.

Scans leave in delivery order: when they happen, or for a station that was offline
when it is back. Never before they happen (a scan of later today waits for its time,
so `--day today` is live traffic); with a speed-up factor the day plays that many
times faster than the clock, from its first scan; with speed 0, as fast as possible.

Two targets: Kafka (`scans.raw`, keyed by person id, as the gateway publishes them) or
the gateway's HTTP API (each device's scans in batches with its token;
self check-ins one by one, as the poster's page sends them, signed by the person's
simulated enrolled phone: `phones`).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from itertools import groupby
from typing import Protocol

from pipeline.kafka_io import DeliveryFailed, produce_all, reliable_producer
from pipeline.stream.layout import in_envelopes
from pipeline.topics import Topics
from producers.station.gateway_client import CHECKIN_PATH, GatewayClient, OperatorNeeded, RetryLater

from . import phones
from .scanning import SentScan
from .world import World

log = logging.getLogger(__name__)
GATEWAY_BATCH = 200
GATEWAY_RETRIES = 30


def publish_registry(bootstrap: str, topics: Topics, world: World, enrol_phones: bool = False) -> dict[str, int]:
    """Areas, venues, personal data, persons and devices, in that order: whatever the
    pipeline reads first already has what it refers to. ``enrol_phones``: also every phone
    owner's enrolled phone (for self check-ins through the gateway; a key each takes a few
    milliseconds to make, so only then)."""
    producer = reliable_producer(bootstrap)
    records = [
        (topics.areas, [(a.area_id, a) for a in world.areas]),
        (topics.venues, [(p.venue.venue_id, p.venue) for p in world.places]),
        (topics.personal_data, [(r.person.person_id, r.personal) for r in world.residents]),
        (topics.persons, [(r.person.person_id, r.person) for r in world.residents]),
        (topics.devices, [(g.device.device_id, g.device) for g in world.gates]),
    ]
    if enrol_phones:
        records.append((topics.phone_enrolments, [(r.person.person_id, phones.enrolment(r.person.person_id))
                                                  for r in world.residents if r.phone]))
    counts = {}
    for spec, items in records:
        counts[spec.name] = produce_all(producer, spec.name, ((k.encode(), r.to_bytes()) for k, r in items))
    return counts


class Target(Protocol):
    def send(self, scans: list[SentScan]) -> None: ...

    def close(self) -> None: ...


class KafkaTarget:
    """Straight to scans.raw, keyed by person. ``partitions`` (the topic's): each batch's
    scans of one partition go as envelopes (`schemas.envelopes`), as a gateway under load
    sends them; None: one message per scan."""

    def __init__(self, bootstrap: str, topic: str, partitions: int | None = None) -> None:
        self.topic = topic
        self.partitions = partitions
        self.producer = reliable_producer(bootstrap)
        self.errors: list[str] = []

    def _delivered(self, err, _msg) -> None:
        if err is not None:
            self.errors.append(str(err))

    def send(self, scans: list[SentScan]) -> None:
        for key, value in self._messages(scans):
            while True:
                try:
                    self.producer.produce(self.topic, value, key, on_delivery=self._delivered)
                    break
                except BufferError:
                    self.producer.poll(0.1)
            self.producer.poll(0)

    def _messages(self, scans: list[SentScan]) -> list[tuple[bytes, bytes]]:
        messages = [(scan.key, scan.raw().to_bytes()) for scan in scans]
        return messages if self.partitions is None else in_envelopes(messages, self.partitions)

    def close(self) -> None:
        left = self.producer.flush(60)
        if left or self.errors:
            raise DeliveryFailed(f"{left} scan(s) not acknowledged, {len(self.errors)} failed: {self.errors[:1]}")


class GatewayTarget:
    def __init__(self, url: str, world: World, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.clients = {g.device.device_id: GatewayClient(url, g.device.device_id, g.token, timeout)
                        for g in world.gates}
        self.refused = 0

    def send(self, scans: list[SentScan]) -> None:
        # One request per device and run of scans, in order (a device sends its own in order).
        for device_id, run in groupby(scans, key=lambda s: s.device_id):
            run = list(run)
            if device_id is None:
                for scan in run:
                    self._retry(lambda: self._checkin(scan))
            else:
                for start in range(0, len(run), GATEWAY_BATCH):
                    part = run[start:start + GATEWAY_BATCH]
                    self._retry(lambda: self._batch(device_id, part))

    def _batch(self, device_id: str, scans: list[SentScan]) -> None:
        items = [{"event_id": str(s.event_id), "person_qr": s.person_qr, "direction": s.direction.value,
                  "scanned_at": s.scanned_at.isoformat(), "sent_at": _now().isoformat()} for s in scans]
        answer = self.clients[device_id].send(items)
        self.refused += len(answer.refused)
        if len(answer.acknowledged) + len(answer.refused) < len(scans):
            raise RetryLater("the gateway answered for only part of a batch")

    def _checkin(self, scan: SentScan) -> None:
        body = json.dumps(phones.signed_checkin(scan, _now())).encode()
        request = urllib.request.Request(self.url + CHECKIN_PATH, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if json.loads(response.read()).get("status") == "refused":
                    self.refused += 1
        except urllib.error.HTTPError as exc:
            if exc.code in (429, 500, 502, 503, 504):
                raise RetryLater(f"gateway answered {exc.code}", float(exc.headers.get("Retry-After") or 1)) from None
            raise OperatorNeeded(f"the gateway refused a self check-in: HTTP {exc.code} {exc.read()[:200]!r}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise RetryLater(f"gateway unreachable: {exc}") from None

    def _retry(self, attempt: Callable[[], None]) -> None:
        for number in range(GATEWAY_RETRIES):
            try:
                return attempt()
            except RetryLater as exc:
                wait = exc.retry_after or min(10.0, 0.5 * 2 ** number)
                log.warning("%s; again in %.1fs", exc, wait)
                time.sleep(wait)
        raise OperatorNeeded(f"the gateway at {self.url} did not take the scans after {GATEWAY_RETRIES} tries")

    def close(self) -> None:
        pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


def send_scans(scans: list[SentScan], target: Target, speed: float, *, clock: Callable[[], datetime] = _now,
               sleep: Callable[[float], None] = time.sleep, progress: Callable[[int], None] | None = None) -> int:
    """Send ``scans`` (in delivery order) paced by ``speed``; returns how many were sent."""
    if not scans:
        return 0
    day_start, wall_start = scans[0].deliver_at, clock()
    sent = 0
    while sent < len(scans):
        now = clock()
        played = day_start + (now - wall_start) * speed if speed > 0 else None
        due = sent
        while due < len(scans) and scans[due].deliver_at <= now and (played is None or scans[due].deliver_at <= played):
            due += 1
        if due == sent:
            following = scans[sent].deliver_at
            wait = (following - now).total_seconds()
            if played is not None:
                wait = max(wait, (following - played).total_seconds() / speed)
            sleep(min(max(wait, 0.01), 1.0))
            continue
        target.send(scans[sent:due])
        sent = due
        if progress:
            progress(sent)
    target.close()
    return sent

