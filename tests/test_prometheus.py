"""Who may read the web's and the gateway's /metrics, and one registry per service
object (no duplicate registration when a test makes the same service twice)."""

from __future__ import annotations

import pytest

from metrics_helpers import of_registry, value
from pipeline.alerts.metrics import AlertsMetrics
from pipeline.prometheus import allowed, networks
from pipeline.sink.metrics import SinkMetrics
from pipeline.stream.metrics import Metrics, scan_rate


@pytest.mark.parametrize("client, spec, answer", [
    ("127.0.0.1", "127.0.0.1,::1", True),
    ("::1", "127.0.0.1,::1", True),
    ("::ffff:127.0.0.1", "127.0.0.1,::1", True),  # IPv4 loopback as a dual-stack socket names it
    ("10.1.2.3", "127.0.0.1,::1", False),
    ("203.0.113.9", "127.0.0.1,::1", False),
    ("10.1.2.3", "127.0.0.1, 10.0.0.0/8", True),
    ("2001:db8::5", "2001:db8::/32", True),
    ("2001:db8::5", "10.0.0.0/8", False),
    ("203.0.113.9", "*", True),
    (None, "*", False),
    ("unknown", "*", False),
])
def test_only_the_named_addresses_read_the_metrics(client, spec, answer) -> None:
    assert allowed(client, networks(spec)) is answer


def test_a_wrong_setting_says_what_to_write() -> None:
    with pytest.raises(ValueError, match="RAVAO_METRICS_FROM"):
        networks("localhost")


def test_each_service_object_has_a_registry_of_its_own() -> None:
    for make in (Metrics, SinkMetrics, AlertsMetrics):
        first, second = make(), make()  # no "Duplicated timeseries" error
        assert first.registry is not second.registry


def test_the_workers_counters_are_what_its_registry_exposes() -> None:
    metrics = Metrics()
    metrics.inc("scans_accepted", by=5)
    metrics.inc("scans_rejected", "bad_signature", 2)
    exposed = of_registry(metrics.registry)
    assert value(exposed, "ravao_scans_accepted_total") == 5
    assert value(exposed, "ravao_scans_rejected_total", reason="bad_signature") == 2
    assert value(exposed, "ravao_visits_emitted_total") == 0  # every counter is there from the start


def test_scans_per_second_come_from_each_live_workers_two_latest_snapshots() -> None:
    def snapshot(worker: str, at: float, accepted: int, refused: int) -> bytes:
        import json

        return json.dumps({"worker": worker, "started": 0, "at": at, "counts": [
            ["scans_accepted", "", accepted], ["scans_rejected", "bad_code", refused]]}).encode()

    now = 1000.0
    rate = scan_rate([snapshot("a", 990, 0, 0), snapshot("a", 995, 100, 5), snapshot("a", 1000, 150, 10),
                      snapshot("b", 995, 0, 0), snapshot("b", 1000, 25, 0),
                      snapshot("gone", 100, 0, 0), snapshot("gone", 105, 999, 0)], now)
    assert (rate.accepted, rate.rejected, rate.workers) == (15.0, 1.0, 2)
