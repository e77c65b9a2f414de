"""Alerts and contact lists through the one authorization layer, on the real engine
(chdb): what a typo, a wider area, another venue's staff or a made-up case get."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.access import Caller, Denied, Grant, Role
from pipeline.access.audit import AuditTrail
from pipeline.access.reads import Reads
from pipeline.warehouse.queries import QueryInputError
from schemas.cases import Alert, venue_alert_id
from warehouse_day import generate_day, load_day, load_records  # noqa: F401
from warehouse_day import backend_settings, warehouse  # noqa: F401 (fixtures)

TRACER = Caller(actor="tracer-1", grants=(Grant(Role.tracer),))


@pytest.fixture
def reads(warehouse, backend_settings):  # noqa: F811
    return Reads(warehouse, AuditTrail.for_warehouse(backend_settings, warehouse))


@pytest.fixture
def day(warehouse):  # noqa: F811
    generated = generate_day(persons=20, venues=4, seed=3)
    load_day(warehouse, generated)
    now = datetime.now(timezone.utc)
    alerts = [Alert(alert_id=venue_alert_id("C" + c * 14, v.venue_id), venue_id=v.venue_id, case_ids=["C" + c * 14],
                    first_presence=now - timedelta(hours=2), last_presence=now - timedelta(hours=1), visits=1,
                    registered_at=now, seconds_from_registration=1.5)
              for c, v in zip("BCDE", generated.venues)]
    load_records(warehouse, "alerts", Alert, alerts)
    return generated


def test_a_status_that_is_not_one_says_so_instead_of_listing_nothing(reads, day) -> None:
    # `ravao alerts list --status confirmd` listed nothing: "no confirmed alerts", read a
    # health officer. It must say what to type.
    with pytest.raises(QueryInputError, match="proposed, confirmed, notified, retracted"):
        reads.alerts(TRACER, status="confirmd")
    assert len(reads.alerts(TRACER, status="proposed").rows) == 4


def test_an_officer_of_a_commune_is_refused_the_district_and_another_venues_staff_the_contacts(reads, day) -> None:
    venue = day.venues[0]
    commune, district = venue.area_path[-1], venue.area_path[-2]
    officer = Caller(actor="officer", grants=(Grant(Role.area_officer, area_id=commune),))
    with pytest.raises(Denied):
        reads.alerts(officer, area=district)
    with pytest.raises(Denied):
        reads.alerts(officer, area="' OR 1=1 --")
    staff = Caller(actor="staff", grants=(Grant(Role.venue_staff, venue_id=venue.venue_id),))
    assert {r["venue_id"] for r in reads.alerts(staff).dicts()} == {venue.venue_id}
    with pytest.raises(Denied):
        reads.case_contacts(staff, "C" + "B" * 14)
    with pytest.raises(Denied):  # a case that does not exist
        reads.case_contacts(TRACER, "C" + "Z" * 14)


def test_a_venues_staff_is_refused_the_alerts_of_the_area_around_it(reads, day) -> None:
    venue = day.venues[0]
    staff = Caller(actor="staff", grants=(Grant(Role.venue_owner, venue_id=venue.venue_id),))
    for area in venue.area_path:
        with pytest.raises(Denied):
            reads.alerts(staff, area=area)
    with pytest.raises(Denied):
        reads.alerts(staff, venue=day.venues[1].venue_id)
    mine = reads.alerts(staff, venue=venue.venue_id, area="nowhere").dicts()
    assert mine == []
