"""Token buckets, one per key: a device; a person at a client address (self check-ins);
a client address (every self check-in it sends, and its failed device log-ins).

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second; a scan costs
one. A batch is taken whole or refused whole: it passes when the bucket holds as many
tokens as it has scans (or is full, for a batch larger than the burst), and may leave
the bucket in debt, which the next requests wait out. Refused requests get 429 with
the seconds to wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_BUCKETS = 200_000  # idle full buckets are forgotten beyond this; forgetting one refills it


@dataclass
class Bucket:
    tokens: float
    at: float


class TokenBuckets:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, Bucket] = {}

    def take(self, key: str, cost: int = 1) -> float:
        """0.0 if ``cost`` tokens were taken, else the seconds to wait before asking again."""
        bucket = self._refilled(key)
        needed = min(float(cost), self.burst)
        if bucket.tokens >= needed:
            bucket.tokens -= cost
            return 0.0
        return (needed - bucket.tokens) / self.rate

    def wait(self, key: str) -> float:
        """The seconds until one token is there (0.0: now), taking nothing."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = min(self.burst, bucket.tokens + (self.clock() - bucket.at) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def _refilled(self, key: str) -> Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        return bucket

    def _forget_full(self, now: float) -> None:
        full_after = self.burst / self.rate
        for key in [k for k, b in self._buckets.items() if now - b.at >= full_after]:
            del self._buckets[key]
        if len(self._buckets) >= MAX_BUCKETS:  # all busy: forget the oldest half
            for key in sorted(self._buckets, key=lambda k: self._buckets[k].at)[: MAX_BUCKETS // 2]:
                del self._buckets[key]
