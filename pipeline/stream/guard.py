"""Stops the worker when what it refuses says the deployment is broken, never for input.

A wrong key refuses every code (`bad_signature`, `expired_key`), and an empty registry
every venue and device (`unknown_*` while the worker knows none): then every source fails.
Anything else that is refused (a backlog older than the lateness, a date in 9999, another
venue's code, garbage) is input, however much of it there is, and is never judged. And
each source (a device, or the venue of a self check-in) has one vote, whatever it sends:
one device's flood cannot stop the worker.

A source is named by the scan itself (its device id, its venue's code), which nothing
has verified when the scan is refused: a producer writing straight to scans.raw can name
many sources. So the guard also waits for the worker to go ``quiet`` judged refusals in a
row with no scan accepted at all. A wrong key refuses every scan; forged scans amid real
traffic never go that long without a genuine one passing.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from schemas.dlq import RejectReason

from ..settings import default

# Refused under every key the worker has: the keys are wrong (or not those of the gateway).
KEY_REASONS = frozenset({RejectReason.bad_signature, RejectReason.expired_key})
# Refused for an id the registry does not hold: broken only when it holds none at all.
REGISTRY_REASONS = frozenset({RejectReason.unknown_venue, RejectReason.unknown_device, RejectReason.unknown_person})
SOURCE_HISTORY = 5  # a source fails when its last this many judged scans (or all it sent) failed


def known_source(registry, source: str | None, registry_empty: bool) -> str | None:
    """A source the registry holds (any, while it holds nothing): an id made up in a
    forged scan is nobody's vote."""
    if source is None or registry_empty:
        return source
    return source if registry.device(source) or registry.venue(source) else None


class TooManyRejects(RuntimeError):
    pass


def signals_broken_deployment(reason: RejectReason, registry_empty: bool) -> bool:
    """Whether a refusal for ``reason`` says something about the deployment, not the input."""
    return reason in KEY_REASONS or (registry_empty and reason in REGISTRY_REASONS)


class RejectGuard:
    """Over the last ``sources`` distinct sources heard from, the worker stops when more
    than ``max_ratio`` of them fail: every one of their recent scans was refused for a
    reason of `signals_broken_deployment`. Nothing is decided before that many sources
    were heard from. A source's accepted scans count for it; refusals for input do not
    count at all."""

    def __init__(self, sources: int = default("reject_guard_sources"),
                 max_ratio: float = default("reject_guard_ratio"),
                 quiet: int = default("reject_guard_quiet")) -> None:
        if sources < 1 or quiet < 1 or not 0 < max_ratio <= 1:
            raise ValueError("sources and quiet must be positive and max_ratio in (0, 1]")
        self.sources = sources
        self.max_ratio = max_ratio
        self.quiet = quiet
        self._refused_in_a_row = 0  # judged refusals since the last accepted scan, of any source
        self._recent: OrderedDict[str, deque[bool]] = OrderedDict()  # source -> its last outcomes (True: failed)
        self._failing: set[str] = set()

    def accepted(self, source: str) -> None:
        self._refused_in_a_row = 0
        self._record(source, False)

    def refused(self, source: str | None, reason: RejectReason, registry_empty: bool) -> None:
        """Raises `TooManyRejects` when the deployment looks broken. A refusal that names
        no source (garbage) or is about the input is not judged."""
        if source is not None and signals_broken_deployment(reason, registry_empty):
            self._refused_in_a_row += 1
            self._record(source, True)

    def _record(self, source: str, failed: bool) -> None:
        outcomes = self._recent.get(source)
        if outcomes is None:
            outcomes = self._recent[source] = deque(maxlen=SOURCE_HISTORY)
            if len(self._recent) > self.sources:
                gone, _ = self._recent.popitem(last=False)
                self._failing.discard(gone)
        else:
            self._recent.move_to_end(source)
        outcomes.append(failed)
        if failed and all(outcomes):
            self._failing.add(source)
        else:
            self._failing.discard(source)
        if len(self._recent) == self.sources and len(self._failing) > self.max_ratio * self.sources \
                and self._refused_in_a_row >= self.quiet:
            raise TooManyRejects(
                f"{len(self._failing)} of the last {self.sources} sources (devices, or venues for self check-ins) "
                f"had every recent scan refused under every key, or for ids of an empty registry (more than "
                f"{self.max_ratio:.0%}), and the last {self._refused_in_a_row} such refusals came with no scan "
                f"accepted: check that RAVAO_QR_KEYS holds the keys the codes were signed with (the "
                "gateway's), and that the registry topics are loaded (RAVAO_TOPIC_PREFIX); see `ravao stats` "
                "and scans.dlq for the reasons. If they were forged (scans.dlq shows one producer naming many "
                "venues), restart the worker with RAVAO_REJECT_GUARD_RATIO=1 (the guard off) and find that producer"
            )
