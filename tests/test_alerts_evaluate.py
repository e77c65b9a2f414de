"""The alerting job's rules as plain functions: clusters within d days, named by their
first-registered case as others join; versions only when something changed; a
retracted alert found again starts over."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from pipeline.alerts.evaluate import Presence, clusters, revise, window
from schemas.cases import Alert, AlertStatus, Case, CaseStatus, cluster_alert_id, venue_alert_id

T0 = datetime(2026, 11, 20, 8, tzinfo=timezone.utc)
VENUE = "V" + "B" * 14


def case(letter: str, registered_hours: int) -> Case:
    return Case(case_id="C" + letter * 14, person_id="P" + letter * 14, status=CaseStatus.confirmed,
                onset=date(2026, 11, 21), registered_at=T0 + timedelta(hours=registered_hours), registered_by="t")


def member(c: Case, day: float, hours: float = 1.0, met: frozenset = frozenset()):
    first = T0 + timedelta(days=day)
    return c, Presence(first, first + timedelta(hours=hours), 1), met


def test_cases_within_d_days_of_one_another_make_one_cluster_and_a_gap_makes_two() -> None:
    a, b, c, d = case("B", 0), case("C", 1), case("D", 2), case("E", 3)
    found = clusters(VENUE, {x.case_id: member(x, day) for x, day in ((a, 0), (b, 6.9), (c, 20), (d, 26))}, 2, 7)
    assert {tuple(alert.case_ids) for alert in found.values()} == {(a.case_id, b.case_id), (c.case_id, d.case_id)}
    assert set(found) == {cluster_alert_id(VENUE, a.case_id), cluster_alert_id(VENUE, c.case_id)}
    alone = clusters(VENUE, {x.case_id: member(x, day) for x, day in ((a, 0), (b, 7.1))}, 2, 7)
    assert alone == {}


def test_a_cluster_keeps_its_id_when_an_earlier_present_case_joins_later() -> None:
    a, b, late = case("B", 0), case("C", 1), case("D", 50)
    before = clusters(VENUE, {x.case_id: member(x, day) for x, day in ((a, 2), (b, 3))}, 2, 7)
    after = clusters(VENUE, {x.case_id: member(x, day) for x, day in ((a, 2), (b, 3), (late, 0))}, 2, 7)
    assert set(before) == set(after) == {cluster_alert_id(VENUE, a.case_id)}
    assert next(iter(after.values())).case_ids == [a.case_id, b.case_id, late.case_id]


def test_exposed_people_of_a_cluster_are_counted_once_and_never_the_cases_themselves() -> None:
    a, b = case("B", 0), case("C", 1)
    met_a = frozenset({"P" + "X" * 14, "P" + "V" * 14, b.person_id})
    met_b = frozenset({"P" + "X" * 14, a.person_id})
    found = clusters(VENUE, {a.case_id: member(a, 0, met=met_a), b.case_id: member(b, 1, met=met_b)}, 2, 7)
    assert next(iter(found.values())).exposed == 2


def test_a_version_is_written_only_when_the_alert_says_something_new() -> None:
    draft = Alert(alert_id=venue_alert_id("C" + "B" * 14, VENUE), venue_id=VENUE, case_ids=["C" + "B" * 14],
                  first_presence=T0, last_presence=T0 + timedelta(hours=1), visits=1, exposed=3, registered_at=T0,
                  seconds_from_registration=0)
    now = T0 + timedelta(days=1)
    first = revise(None, draft, now=now, registered_at=T0, newest_scan_at=None, reason="registered", auto_confirm=False)
    assert (first.version, first.status, first.seconds_from_registration) == (1, AlertStatus.proposed, 86400)
    assert revise(first, draft, now=now, registered_at=T0, newest_scan_at=None, reason="re-check",
                  auto_confirm=False) is None
    confirmed = first.model_copy(update={"version": 2, "status": AlertStatus.confirmed})
    more = revise(confirmed, draft.model_copy(update={"exposed": 4}), now=now, registered_at=T0, newest_scan_at=None,
                  reason="new visits", auto_confirm=False)
    assert (more.version, more.status, more.exposed, more.created_at) == (3, AlertStatus.confirmed, 4, first.created_at)
    gone = revise(more, None, now=now, registered_at=T0, newest_scan_at=None, reason="case cleared", auto_confirm=False)
    assert (gone.version, gone.status) == (4, AlertStatus.retracted)
    assert revise(gone, None, now=now, registered_at=T0, newest_scan_at=None, reason="again", auto_confirm=False) is None
    back = revise(gone, draft, now=now, registered_at=T0, newest_scan_at=None, reason="status changed to confirmed",
                  auto_confirm=True)
    assert (back.version, back.status, back.confirmed_by) == (5, AlertStatus.confirmed, "auto")


def test_the_infectious_window_starts_days_before_the_onset_at_midnight_utc() -> None:
    start, end = window(case("B", 0), T0 + timedelta(days=3), 2)
    assert start == datetime(2026, 11, 19, tzinfo=timezone.utc) and end == T0 + timedelta(days=3)
