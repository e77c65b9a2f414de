"""The one authorization layer, role by role, on the real engine (chdb): each caller sees
what its grants allow, is refused the rest before anything is read, sees people masked
unless the policy says in full, and every read in full leaves an audit row (a masked one
leaves none)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.access import Caller, Denied, Grant, Role, local_admin
from pipeline.access.audit import AuditTrail
from pipeline.access.reads import Reads
from pipeline.privacy import mask_name
from pipeline.warehouse.trace import TraceRequest
from schemas import Area, PersonalData, ValidScan, Venue, VenueCategory
from schemas.cases import CaseStatus
from warehouse_day import generate_day, load_day, load_records  # noqa: F401
from warehouse_day import backend_settings, warehouse  # noqa: F401 (fixtures)

COMMUNE, NEIGHBOUR, DISTRICT, OTHER_DISTRICT, PROVINCE = "25741", "25744", "718", "719", "74"


def officer(area: str) -> Caller:
    return Caller(actor=f"officer-{area}", grants=(Grant(Role.area_officer, area_id=area),))


def at_venue(role: Role, venue: str) -> Caller:
    return Caller(actor=f"{role}-{venue}", grants=(Grant(role, venue_id=venue),))


TRACER = Caller(actor="tracer-1", grants=(Grant(Role.tracer),))
ADMIN = local_admin("tester")


@pytest.fixture
def day(warehouse):  # noqa: F811
    generated = generate_day(persons=120, venues=9, seed=11)
    # One privileged venue (a hospital) among them, its visits like any other's.
    hospital = generated.venues[0].model_copy(update={"privileged": True, "category": VenueCategory.hospital})
    generated.venues[0] = hospital
    load_day(warehouse, generated)
    load_records(warehouse, "scans_incoming", ValidScan, generated.unique_scans())
    load_records(warehouse, "personal_data", PersonalData, generated.personal, "person_id")
    return generated


@pytest.fixture
def reads(warehouse, backend_settings):  # noqa: F811
    return Reads(warehouse, AuditTrail.for_warehouse(backend_settings, warehouse))


def audit_rows(warehouse) -> list[dict]:  # noqa: F811
    """The trail as the engine holds it, but the test's own look at it."""
    read = warehouse.read_personal("audit_trail", {"person": "", "actor": ""}, action="test", subject="", detail={})
    return [r for r in read.dicts() if r["action"] != "test" and not (r["action"] == "audit_trail" and not r["purpose"])]


def window(day) -> tuple[datetime, datetime]:
    return day.start, day.start + timedelta(days=1)


def venue_in(day, commune: str) -> Venue:
    return next(v for v in day.venues[1:] if v.area_id == commune)


# -- areas ------------------------------------------------------------------------------------

def recount(day, area: str) -> tuple[int, int]:
    scans = [s for s in day.unique_scans() if area in s.area_path and s.scanned_at.date() == day.day]
    return len(scans), len({s.person_id for s in scans})


@pytest.mark.parametrize("area", [COMMUNE, DISTRICT, PROVINCE])
def test_an_officer_sees_their_area_exactly_as_a_recount_gives_it(reads, day, area) -> None:
    rows = reads.area_counts(officer(area), area, day.day, day.day).dicts()
    own = next(r for r in rows if r["area_id"] == area)
    scans, people = recount(day, area)
    assert (own["scans"], own["people"]) == (scans, people)
    children = {r["area_id"] for r in rows} - {area}
    assert all(any(c in path and area in path for path in [a.path for a in day.areas]) for c in children)


@pytest.mark.parametrize("caller_area, asked", [
    (COMMUNE, NEIGHBOUR), (COMMUNE, DISTRICT), (COMMUNE, PROVINCE), (DISTRICT, OTHER_DISTRICT),
    (DISTRICT, PROVINCE), (DISTRICT, "25777"),
])
def test_an_officer_is_refused_any_other_area_before_anything_is_read(reads, day, caller_area, asked) -> None:
    with pytest.raises(Denied, match=f"area '{asked}' is outside what you may see"):
        reads.area_counts(officer(caller_area), asked, day.day, day.day)
    with pytest.raises(Denied):
        reads.venues_without_scans(officer(caller_area), asked, *window(day))


def test_an_unknown_area_is_refused_in_the_same_words_as_a_forbidden_one(reads, day) -> None:
    with pytest.raises(Denied, match="area '99999' is outside what you may see"):
        reads.area_counts(officer(COMMUNE), "99999", day.day, day.day)


def test_a_breadcrumb_stops_at_the_officers_own_area_and_idle_venues_show_their_owner_masked(
        warehouse, backend_settings, day) -> None:  # noqa: F811
    class Owners:
        def owner_phone(self, venue_id: str) -> str:
            return "0981234791"

    reads = Reads(warehouse, AuditTrail.for_warehouse(backend_settings, warehouse), Owners())
    assert [p.place_id for p in reads.area_trail(officer(DISTRICT), COMMUNE)] == [DISTRICT, COMMUNE]
    assert [p.place_id for p in reads.area_trail(officer(COMMUNE), COMMUNE)] == [COMMUNE]
    assert [p.place_id for p in reads.area_trail(TRACER, COMMUNE)] == [PROVINCE, DISTRICT, COMMUNE]
    with pytest.raises(Denied, match=f"area '{DISTRICT}' is outside"):
        reads.area_trail(officer(COMMUNE), DISTRICT)
    idle = reads.venues_without_scans(officer(PROVINCE), PROVINCE, *window(day)).dicts()
    assert idle and {row["owner_phone"] for row in idle} == {"098****791"}
    assert Reads(warehouse, reads.trail).venues_without_scans(ADMIN, PROVINCE, *window(day)).dicts()[0][
        "owner_phone"] == ""  # no directory, no phone: never one in full


@pytest.mark.parametrize("caller", [at_venue(Role.venue_owner, "VXXXXXXXXXXXXXX"), Caller(actor="nobody")],
                         ids=["venue owner", "no grants"])
def test_callers_without_an_area_get_no_counts(reads, day, caller) -> None:
    with pytest.raises(Denied):
        reads.area_counts(caller, COMMUNE, day.day, day.day)


# -- venues -----------------------------------------------------------------------------------

def test_a_venue_owner_sees_their_venues_people_masked_and_leaves_no_audit_row(reads, warehouse, day) -> None:  # noqa: F811
    venue = venue_in(day, COMMUNE)
    result = reads.venue_visits(at_venue(Role.venue_owner, venue.venue_id), venue.venue_id, *window(day)).dicts()
    start, end = window(day)
    expected = {v.person_id for v in day.live_visits() if v.venue_id == venue.venue_id and v.t_in < end
                and v.t_out > start}
    assert {r["person_id"] for r in result} == expected and expected
    names = {p.person_id: p.full_name for p in day.personal}
    for row in result:
        if row["person_id"] in names:
            assert row["full_name"] == mask_name(names[row["person_id"]]) != names[row["person_id"]]
            assert row["phone"] == "098****791"
    assert audit_rows(warehouse) == []


def test_a_venue_owner_is_refused_another_venues_feed(reads, day) -> None:
    mine, theirs = venue_in(day, COMMUNE), venue_in(day, NEIGHBOUR)
    with pytest.raises(Denied, match=f"venue '{theirs.venue_id}' is outside"):
        reads.venue_visits(at_venue(Role.venue_owner, mine.venue_id), theirs.venue_id, *window(day))
    with pytest.raises(Denied):
        reads.venue_inside(at_venue(Role.venue_staff, mine.venue_id), theirs.venue_id)


def test_staff_of_a_privileged_venue_see_people_in_full_and_each_read_is_audited(reads, warehouse, day) -> None:  # noqa: F811
    hospital = day.venues[0]
    staff = at_venue(Role.venue_staff, hospital.venue_id)
    result = reads.venue_visits(staff, hospital.venue_id, *window(day)).dicts()
    names = {p.person_id: p.full_name for p in day.personal}
    shown = [r for r in result if r["person_id"] in names]
    assert shown and all(r["full_name"] == names[r["person_id"]] for r in shown)
    [row] = audit_rows(warehouse)
    assert (row["actor"], row["action"], row["subject"]) == (staff.actor, "venue_visits", hospital.venue_id)
    assert sorted(row["persons"]) == sorted({r["person_id"] for r in result})


def test_staff_of_a_privileged_venue_see_another_venue_masked_even_when_an_officer_grant_covers_it(
        reads, warehouse, day) -> None:  # noqa: F811
    hospital, other = day.venues[0], venue_in(day, hospital_commune := day.venues[0].area_id)
    both = Caller(actor="both", grants=(Grant(Role.venue_staff, venue_id=hospital.venue_id),
                                        Grant(Role.area_officer, area_id=hospital_commune)))
    result = reads.venue_visits(both, other.venue_id, *window(day)).dicts()
    names = {p.person_id: p.full_name for p in day.personal}
    assert all(r["full_name"] != names[r["person_id"]] for r in result if r["person_id"] in names)
    assert audit_rows(warehouse) == []


def test_an_officer_sees_the_venues_of_their_area_masked_and_no_others(reads, warehouse, day) -> None:  # noqa: F811
    inside, outside = venue_in(day, COMMUNE), venue_in(day, "25777")
    rows = reads.venue_visits(officer(DISTRICT), inside.venue_id, *window(day)).dicts()
    names = {p.person_id: p.full_name for p in day.personal}
    assert all(r["full_name"] != names[r["person_id"]] for r in rows if r["person_id"] in names)
    with pytest.raises(Denied):
        reads.venue_visits(officer(DISTRICT), outside.venue_id, *window(day))
    assert audit_rows(warehouse) == []


def test_when_the_areas_are_reloaded_a_venue_belongs_to_the_officers_of_its_communes_new_district(
        reads, warehouse, day) -> None:  # noqa: F811
    venue = venue_in(day, NEIGHBOUR)
    moved = next(a for a in day.areas if a.area_id == NEIGHBOUR).model_copy(
        update={"parent_id": OTHER_DISTRICT, "path": (PROVINCE, OTHER_DISTRICT, NEIGHBOUR)})
    load_records(warehouse, "areas", Area, day.areas + [moved])  # the newest record of the commune
    with pytest.raises(Denied):
        reads.venue_visits(officer(DISTRICT), venue.venue_id, *window(day))
    with pytest.raises(Denied):
        reads.venue_inside(officer(DISTRICT), venue.venue_id)
    assert reads.venue_visits(officer(OTHER_DISTRICT), venue.venue_id, *window(day)).rows
    assert reads.venue_visits(officer(NEIGHBOUR), venue.venue_id, *window(day)).rows


# -- tracing ----------------------------------------------------------------------------------

def trace_request(day) -> TraceRequest:
    case = day.cases[0].person_id
    return TraceRequest(person=case, start=day.start, end=day.start + timedelta(days=1), min_overlap_seconds=1)


@pytest.mark.parametrize("caller", [officer(PROVINCE), at_venue(Role.venue_owner, "VXXXXXXXXXXXXXX"),
                                    Caller(actor="nobody")], ids=["province officer", "venue owner", "no grants"])
def test_only_tracers_and_admins_trace(reads, day, caller) -> None:
    with pytest.raises(Denied, match="only tracers"):
        reads.trace(caller, trace_request(day), purpose="CXXXXXXXXXXXXXX")
    with pytest.raises(Denied, match="only tracers"):
        reads.person_visits(caller, day.persons[0], *window(day), purpose="CXXXXXXXXXXXXXX")


def test_a_tracer_names_the_case_they_trace_for(reads, day) -> None:
    with pytest.raises(Denied, match="case id"):
        reads.trace(TRACER, trace_request(day), purpose=" ")


def test_a_tracer_names_a_case_that_exists_and_is_open_not_any_words(reads, warehouse, day) -> None:  # noqa: F811
    venue = day.venues[0].venue_id
    for made_up in ["CXXXXXXXXXXXXXX", "curiosity", day.cases[0].case_id.lower()]:
        with pytest.raises(Denied, match="no open case"):
            reads.trace(TRACER, trace_request(day), purpose=made_up, with_names=True)
        with pytest.raises(Denied, match="no open case"):
            reads.person_visits(TRACER, day.persons[0], *window(day), purpose=made_up)
        with pytest.raises(Denied, match="no open case"):
            reads.venue_visits(TRACER, venue, *window(day), purpose=made_up)
    cleared = day.cases[1].model_copy(update={"status": CaseStatus.cleared})
    load_records(warehouse, "cases", type(cleared), day.cases + [cleared])  # the newest record
    with pytest.raises(Denied, match="no open case"):
        reads.trace(TRACER, trace_request(day), purpose=cleared.case_id, with_names=True)
    assert audit_rows(warehouse) == []
    assert reads.trace(TRACER, trace_request(day), purpose=day.cases[0].case_id, with_names=True).rows


def test_a_tracers_read_in_full_writes_who_why_and_whom_before_it_reads(reads, warehouse, day) -> None:  # noqa: F811
    case = day.cases[0]
    without = reads.trace(TRACER, trace_request(day), purpose=case.case_id)
    assert audit_rows(warehouse) == []  # person ids only: nothing personal yet
    named = reads.trace(TRACER, trace_request(day), purpose=case.case_id, with_names=True)
    assert [r[:8] for r in named.rows] == without.rows and "full_name" in named.columns
    [row] = audit_rows(warehouse)
    assert (row["actor"], row["action"], row["purpose"]) == ("tracer-1", "trace_with_names", case.case_id)
    assert sorted(row["persons"]) == sorted({r[1] for r in without.rows})


def test_the_audit_trail_is_for_admins_and_reading_it_is_audited(reads, warehouse, day) -> None:  # noqa: F811
    reads.trace(TRACER, trace_request(day), purpose=day.cases[0].case_id, with_names=True)
    for caller in (TRACER, officer(PROVINCE)):
        with pytest.raises(Denied, match="administrators"):
            reads.audit_trail(caller)
    someone = next(iter(audit_rows(warehouse)[0]["persons"]), day.cases[0].person_id)
    trail = reads.audit_trail(ADMIN, person=someone).dicts()
    assert [r["action"] for r in trail] == ["trace_with_names", "audit_trail"]  # this read is about them too
    assert [r["action"] for r in reads.audit_trail(ADMIN, actor="tracer-1").dicts()] == ["trace_with_names"]
    assert [r["action"] for r in audit_rows(warehouse)] == ["trace_with_names", "audit_trail", "audit_trail"]
    assert json.loads(reads.audit_trail(ADMIN).dicts()[1]["detail"])["person"] == someone


def test_without_an_audit_trail_nothing_personal_is_read(reads, warehouse, day) -> None:  # noqa: F811
    from pipeline.access.audit import AuditUnavailable

    def broken(record):
        raise ConnectionError("the broker is down")

    reads.trail = AuditTrail(broken)
    with pytest.raises(AuditUnavailable, match="nothing personal is read"):
        reads.trace(TRACER, trace_request(day), purpose=day.cases[0].case_id, with_names=True)
    hospital = day.venues[0]
    with pytest.raises(AuditUnavailable):
        reads.venue_visits(at_venue(Role.venue_staff, hospital.venue_id), hospital.venue_id, *window(day))


def test_free_sql_is_for_analysts(reads, day) -> None:
    from pipeline.warehouse.queries import load

    for caller in (officer(PROVINCE), at_venue(Role.venue_owner, day.venues[1].venue_id)):
        with pytest.raises(Denied, match="free SQL"):
            reads.sql(caller, load("tier_counts_mismatches"), {})
    assert reads.sql(TRACER, load("tier_counts_mismatches"), {}).rows == []
