"""The reject guard judges the deployment, never the input: one vote per source, and only
refusals under every key or by an empty registry count."""

from __future__ import annotations

import pytest

from pipeline.stream.guard import RejectGuard, TooManyRejects
from schemas import RejectReason


def test_a_wrong_key_for_every_source_stops_the_worker() -> None:
    guard = RejectGuard(sources=5, max_ratio=0.5, quiet=1)
    with pytest.raises(TooManyRejects, match="RAVAO_QR_KEYS"):
        for i in range(5):
            guard.refused(f"D{i}", RejectReason.bad_signature, registry_empty=False)


def test_one_device_refused_under_every_key_is_one_vote() -> None:
    guard = RejectGuard(sources=5, max_ratio=0.5)
    for i in range(10_000):
        guard.refused("DFLOOD", RejectReason.bad_signature, registry_empty=False)
        if i % 100 == 0:
            guard.accepted(f"V{i % 7}")


@pytest.mark.parametrize("reason", sorted(set(RejectReason) - {RejectReason.bad_signature, RejectReason.expired_key}))
def test_refused_input_never_counts_while_the_registry_holds_records(reason: RejectReason) -> None:
    guard = RejectGuard(sources=3, max_ratio=0.5)
    for i in range(1000):
        guard.refused(f"D{i}", reason, registry_empty=False)


def test_an_empty_registry_stops_the_worker() -> None:
    guard = RejectGuard(sources=3, max_ratio=0.5, quiet=1)
    with pytest.raises(TooManyRejects):
        for i in range(3):
            guard.refused(f"D{i}", RejectReason.unknown_device, registry_empty=True)


def test_a_source_whose_scans_pass_again_stops_failing() -> None:
    guard = RejectGuard(sources=3, max_ratio=0.5)
    guard.refused("D1", RejectReason.bad_signature, registry_empty=False)
    guard.accepted("D1")  # the key works for it after all: an old card, not a wrong key
    guard.refused("D2", RejectReason.bad_signature, registry_empty=False)
    guard.accepted("D3")
    guard.refused("D3", RejectReason.bad_signature, registry_empty=False)  # not every recent scan failed


def test_refusals_that_name_no_source_are_not_judged() -> None:
    guard = RejectGuard(sources=1, max_ratio=0.5)
    for _ in range(100):
        guard.refused(None, RejectReason.bad_signature, registry_empty=False)


def test_forged_scans_naming_many_venues_amid_real_traffic_never_stop_the_worker() -> None:
    """A producer writing straight to scans.raw names the sources itself: 48 forged codes
    for 8 registered venues, after two genuine scans, and genuine scans still trickling in."""
    guard = RejectGuard(sources=10, max_ratio=0.5, quiet=500)
    guard.accepted("DSTATION")
    guard.accepted("DGUARD")
    for round_ in range(50):
        for i in range(48):
            guard.refused(f"V{i % 8}", RejectReason.bad_signature, registry_empty=False)
        guard.accepted("DSTATION")  # one genuine scan every 48 forged ones


def test_a_wrong_key_waits_for_quiet_refusals_in_a_row_then_stops() -> None:
    guard = RejectGuard(sources=3, max_ratio=0.5, quiet=50)
    for i in range(49):
        guard.refused(f"D{i % 3}", RejectReason.bad_signature, registry_empty=False)
    with pytest.raises(TooManyRejects, match="RAVAO_REJECT_GUARD_RATIO=1"):
        guard.refused("D0", RejectReason.bad_signature, registry_empty=False)
