"""The query library as callers see it: every read of the warehouse for a person or a
service goes through `Reads`, which applies the caller's scope, masks or audits, and only
then runs the query (`pipeline.warehouse.queries`).

    reads = Reads(warehouse, trail)
    reads.area_counts(caller, "74", from_day, to_day)           area officers, above
    reads.venues_without_scans(caller, "74", start, end)         with each owner's phone, masked
    reads.venue_visits(caller, "V...", start, end)               the venue's people, masked
    reads.feed_people(caller, "V...", ["P..."])                  the live feed's people, likewise
    reads.trace(caller, request, purpose="C...", with_names=True)  tracers, audited

Every method takes the caller first and refuses (`policy.Denied`) before it reads
anything the caller may not see. The area or venue asked for is looked up in the
warehouse and checked against the caller's grants: the query never runs for a
caller-chosen place outside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Protocol

from ..privacy import mask_phone
from ..warehouse import Result, Warehouse
from ..warehouse.queries import Query, QueryInputError, load, run
from . import masking, policy
from .audit import AuditTrail
from .caller import Caller, Role
from .policy import Denied, Place
from schemas.cases import AlertStatus
from schemas.registry import normalise_phone

PERSONAL = "personal_data_of"


class VenuePhones(Protocol):
    """Who owns a venue (the registry's record; `AccountDirectory` in the web process)."""

    def owner_phone(self, venue_id: str) -> str | None: ...


class Reads:
    def __init__(self, warehouse: Warehouse, trail: AuditTrail, owners: VenuePhones | None = None) -> None:
        self.warehouse = warehouse
        self.trail = trail
        self.owners = owners  # the warehouse keeps no venue phone: without it, none is shown

    # -- places ------------------------------------------------------------------------

    def area(self, area_id: str) -> Place | None:
        found = run(self.warehouse, load("area_profile"), {"area": area_id}).dicts()
        if not found:
            return None
        return Place(area_id, found[0]["name"], tuple(found[0]["path"]))

    def venue(self, venue_id: str) -> Place | None:
        found = run(self.warehouse, load("venue_profile"), {"venue": venue_id}).dicts()
        if not found:
            return None
        row = found[0]
        # The areas it lies in now: its area's current path, for `ravao areas load` may have
        # moved that area since the venue was added (the venue's record keeps the old path).
        area = self.area(row["area_id"])
        path = area.path if area is not None else tuple(row["area_path"])
        return Place(venue_id, row["name"], path, bool(row["privileged"]))

    def _area(self, caller: Caller, area_id: str) -> Place:
        return policy.require_area(caller, area_id, self.area(area_id))

    def _venue(self, caller: Caller, venue_id: str) -> Place:
        return policy.require_venue(caller, venue_id, self.venue(venue_id))

    # -- counts (no personal data) -----------------------------------------------------

    def area_counts(self, caller: Caller, area_id: str, from_day: date, to_day: date) -> Result:
        self._area(caller, area_id)
        return run(self.warehouse, load("tier_counts"), {"area": area_id, "from_day": from_day, "to_day": to_day})

    def area_hours(self, caller: Caller, area_id: str, start: datetime, end: datetime) -> Result:
        self._area(caller, area_id)
        return run(self.warehouse, load("area_counts_by_hour"), {"area": area_id, "from": start, "to": end})

    def area_days(self, caller: Caller, area_id: str, from_day: date, to_day: date) -> Result:
        self._area(caller, area_id)
        return run(self.warehouse, load("area_counts_by_day"), {"area": area_id, "from_day": from_day,
                                                                "to_day": to_day})

    def area_trail(self, caller: Caller, area_id: str) -> list[Place]:
        """The areas from the caller's own top area down to ``area_id`` (a breadcrumb):
        never one above what the caller may see."""
        area = self._area(caller, area_id)
        trail = [self.area(step) for step in policy.visible_path(caller, area.path)[:-1]]
        return [step for step in trail if step is not None] + [area]

    def venues_without_scans(self, caller: Caller, area_id: str, start: datetime, end: datetime) -> Result:
        """Each venue with its owner's phone (``owner_phone``), masked for every caller:
        a count page is no place for a phone in full."""
        self._area(caller, area_id)
        return self._with_owners(run(self.warehouse, load("venues_without_scans"),
                                     {"area": area_id, "from": start, "to": end}))

    def venues_without_scans_on_days(self, caller: Caller, area_id: str, from_day: date, to_day: date) -> Result:
        """The same for whole days, from the venues' days of scans (the tier page)."""
        self._area(caller, area_id)
        return self._with_owners(run(self.warehouse, load("venues_without_scans_on_days"),
                                     {"area": area_id, "from_day": from_day, "to_day": to_day}))

    def _with_owners(self, result: Result) -> Result:
        at = result.columns.index("venue_id")
        phones = [masking.contact_phone(self.owners.owner_phone(row[at]) if self.owners else None)
                  for row in result.rows]
        return Result(result.columns + ["owner_phone"], result.types + ["String"] if result.types else [],
                      [row + [phone] for row, phone in zip(result.rows, phones)])

    # -- a venue's people (masked unless the policy says in full) ----------------------

    def venue_visits(self, caller: Caller, venue_id: str, start: datetime, end: datetime,
                     purpose: str | None = None) -> Result:
        venue = self._venue(caller, venue_id)
        result = run(self.warehouse, load("venue_timeline"), {"venue": venue_id, "from": start, "to": end})
        return self._with_people(caller, venue, result, "venue_visits", purpose,
                                 {"venue": venue_id, "from": start, "to": end})

    def venue_inside(self, caller: Caller, venue_id: str, purpose: str | None = None) -> Result:
        venue = self._venue(caller, venue_id)
        result = run(self.warehouse, load("venue_occupancy_now"), {"venue": venue_id})
        return self._with_people(caller, venue, result, "venue_inside", purpose, {"venue": venue_id})

    def feed_people(self, caller: Caller, venue_id: str, persons: Iterable[str]) -> dict[str, dict[str, str]]:
        """The people of a venue's live feed, each as the caller may see them: masked, or
        in full for the staff of a privileged venue (the audit row written first). The
        scope is checked again on every call: a grant taken away ends the feed."""
        venue = self._venue(caller, venue_id)
        full = policy.sees_in_full(caller, venue, None)
        return self._personal(caller, sorted(set(persons)), full=full, action="venue_feed", subject=venue_id,
                              purpose=f"staff of privileged venue {venue_id}" if full else "",
                              detail={"venue": venue_id})

    # -- a venue's own page (no person but its staff, masked) --------------------------

    def venue_sheet(self, caller: Caller, venue_id: str) -> dict[str, Any]:
        """The venue as its page and its poster show it, with the names of its areas from
        its own commune up (``area_names``)."""
        venue = self._venue(caller, venue_id)
        found = run(self.warehouse, load("venue_sheet"), {"venue": venue_id}).dicts()
        if not found:
            raise LookupError(f"no venue {venue_id!r}")
        areas = [self.area(area_id) for area_id in reversed(venue.path)]
        return {**found[0], "area_path": venue.path, "area_names": [a.name for a in areas if a is not None]}

    def venue_devices(self, caller: Caller, venue_id: str) -> Result:
        self._venue(caller, venue_id)
        return run(self.warehouse, load("venue_devices"), {"venue": venue_id})

    def venue_staff(self, caller: Caller, venue_id: str,
                    phones: Iterable[tuple[str, Role]]) -> list[dict[str, str]]:
        """A venue's own phones (``phones``: its owner's and its staff's, as the account
        directory has them from `registry.venues`), always masked: the staff list is seen
        by the officers above the venue too, and a masked phone is enough to tell them apart."""
        self._venue(caller, venue_id)
        return [{"phone": mask_phone(phone), "role": str(role)} for phone, role in phones]

    # -- people's movements: tracing ---------------------------------------------------

    def _tracing(self, caller: Caller, purpose: str | None) -> str:
        """The purpose to audit: a tracer's open case (looked up), or an admin's words."""
        why = policy.require_tracing(caller, purpose)
        if not caller.is_admin:
            status = run(self.warehouse, load("case_status"), {"case": why}).scalar()
            policy.require_open_case(caller, why, status)
        return why

    def person_visits(self, caller: Caller, person: str, start: datetime, end: datetime,
                      purpose: str | None) -> Result:
        self._tracing(caller, purpose)
        return run(self.warehouse, load("person_visits"), {"person": person, "from": start, "to": end})

    def trace(self, caller: Caller, request, purpose: str | None, with_names: bool = False,
              claimed_for: str | None = None) -> Result:
        """`pipeline.warehouse.trace` for a tracer; names in full (audited) on request."""
        from ..warehouse.trace import trace

        why = self._tracing(caller, purpose)
        result = trace(self.warehouse, request)
        if not with_names:
            return result
        detail = {"query": "trace", "depth": request.depth, "from": request.start.isoformat(),
                  "to": request.end.isoformat(), "min_overlap_seconds": request.min_overlap_seconds}
        if claimed_for:
            detail["on_behalf_of"] = claimed_for
        persons = sorted({row[1] for row in result.rows})
        found = self._personal(caller, persons, full=True, action="trace_with_names", subject=request.person,
                               purpose=why, detail=detail)
        rows = [row + [found[row[1]][c] for c in masking.PERSON_FIELDS] for row in result.rows]
        return Result(result.columns + list(masking.PERSON_FIELDS), [], rows)

    def find_by_phone(self, caller: Caller, phone: str, purpose: str | None) -> list[str]:
        """The ids of the people whose record holds ``phone`` (any way it is written): a
        read of personal data, so for tracers naming an open case and admins, audited
        first (the phone, normalised, is the row's subject)."""
        why = self._tracing(caller, purpose)
        try:
            normalised = normalise_phone(phone)
        except ValueError as exc:
            raise QueryInputError(str(exc)) from None
        self.trail.record(caller, action="find_by_phone", subject=normalised, purpose=why,
                          detail={"query": "person_by_phone"})
        found = self.warehouse.read_personal("person_by_phone", {"phone": normalised}, action="find_by_phone",
                                             subject=normalised, detail={})
        return [row[0] for row in found.rows]

    def person_in_full(self, caller: Caller, person: str, purpose: str | None) -> dict[str, str]:
        """The name, phone and ID number of the person traced (audited first)."""
        why = self._tracing(caller, purpose)
        return self._personal(caller, [person], full=True, action="person_with_names", subject=person,
                              purpose=why, detail={"query": "personal_data_of"})[person]

    def case_onset(self, caller: Caller, person: str, purpose: str | None) -> str | None:
        self._tracing(caller, purpose)
        return run(self.warehouse, load("case_onset"), {"person": person}).scalar()

    # -- alerts ------------------------------------------------------------------------

    def alerts(self, caller: Caller, *, venue: str = "", area: str = "", case: str = "",
               status: str = "") -> Result:
        """Alerts (no person in them): tracers and admins any; an area officer those of
        their area, a venue's people those of their venue. Only tracers look up by case."""
        if status and status not in set(AlertStatus):  # a typo would list nothing: "no such alerts"
            raise QueryInputError(f"status {status[:20]!r}: use one of {', '.join(AlertStatus)}")
        if not caller.has(Role.admin, Role.tracer):
            if case:
                raise Denied("only tracers and administrators look alerts up by case")
            if not venue and not area and len(caller.areas()) == 1:
                area = next(iter(caller.areas()))
            if not venue and not area and len(caller.venues()) == 1:
                venue = next(iter(caller.venues()))
            if venue:
                self._venue(caller, venue)
            elif area:
                self._area(caller, area)
            else:
                raise Denied("name the venue or area whose alerts you want: you may see "
                             + policy.scope_words(caller))
        return run(self.warehouse, load("alerts_list"), {"venue": venue, "area": area, "case": case,
                                                         "status": status})

    def alert_deliveries(self, caller: Caller, alert_ids: Iterable[str]) -> Result:
        """The notifications of the given alerts and how each was delivered (recipients
        masked as the warehouse keeps them): tracers and admins, who follow a case's alerts."""
        policy.require_case_management(caller)
        ids = sorted(set(alert_ids))
        if not ids:
            return Result([], [], [])
        return run(self.warehouse, load("alert_deliveries"), {"alerts": ids})

    def person_known(self, person_id: str) -> bool:
        """Whether a person id is registered (nothing about them: a case needs one)."""
        return bool(run(self.warehouse, load("person_known"), {"person": person_id}).scalar())

    def case_contacts(self, caller: Caller, case_id: str) -> Result:
        """A case's contact list as the alerting job wrote it (person ids): tracers naming
        the case, admins."""
        self._tracing(caller, case_id)
        return run(self.warehouse, load("case_contacts"), {"case": case_id})

    def venue_names(self, venue_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Venue id → its name, address and commune (no person in them), for a page that
        lists the venues of visits or contacts the caller was already allowed to read."""
        ids = sorted(set(venue_ids))
        if not ids:
            return {}
        return {row["venue_id"]: row for row in run(self.warehouse, load("venue_names"), {"venues": ids}).dicts()}

    # -- administration ----------------------------------------------------------------

    def audit_trail(self, caller: Caller, person: str = "", actor: str = "") -> Result:
        """Who read whom: names people, so it is itself a read in full, and audited."""
        policy.require_admin(caller, "read the audit trail")
        self.trail.record(caller, action="audit_trail", subject=person, purpose="audit",
                          detail={"person": person, "actor": actor})
        query = load("audit_trail")
        return self.warehouse.read_personal(query.name, {"person": person, "actor": actor}, action="audit_trail",
                                            subject=person, detail={"actor": actor})

    def dead_letters_by_reason(self, caller: Caller, now: datetime) -> Result:
        """What the pipeline refused, counted by reason (no message, no person): admins."""
        policy.require_admin(caller, "see the operations of the pipeline")
        return run(self.warehouse, load("dead_letters_by_reason"), {"now": now})

    def sink_progress(self, caller: Caller) -> Result:
        """How far the sink has landed each topic: admins."""
        policy.require_admin(caller, "see the operations of the pipeline")
        return run(self.warehouse, load("sink_progress"), {})

    def failing_notifications(self, caller: Caller) -> Result:
        """Alert deliveries failing, recipients masked as the warehouse keeps them: admins."""
        policy.require_admin(caller, "see the operations of the pipeline")
        return run(self.warehouse, load("notifications_failing"), {})

    def sql(self, caller: Caller, query: Query, values: Mapping[str, Any]) -> Result:
        """A query of the library or an analyst's own read, through the door (which keeps
        personal tables out)."""
        policy.require_analyst(caller)
        return run(self.warehouse, query, values)

    # -- people --------------------------------------------------------------------------

    def _with_people(self, caller: Caller, venue: Place, result: Result, action: str, purpose: str | None,
                     detail: Mapping[str, Any]) -> Result:
        """``result`` with each row's person shown as the policy allows."""
        persons = sorted({row["person_id"] for row in result.dicts()})
        full = policy.sees_in_full(caller, venue, purpose)
        if full and not policy.sees_in_full(caller, venue, None):  # in full for the purpose named
            purpose = self._tracing(caller, purpose)
        found = self._personal(caller, persons, full=full, action=action, subject=venue.place_id,
                               purpose=(purpose or f"staff of privileged venue {venue.place_id}") if full else "",
                               detail=detail)
        at = result.columns.index("person_id")
        rows = [row + [found[row[at]][c] for c in masking.PERSON_FIELDS] for row in result.rows]
        return Result(result.columns + list(masking.PERSON_FIELDS), [], rows)

    def _personal(self, caller: Caller, persons: list[str], *, full: bool, action: str, subject: str,
                  purpose: str, detail: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        """Each person's view, in full (after the audit row is written) or masked."""
        if not persons:
            return {}
        if full:
            self.trail.record(caller, action=action, subject=subject, purpose=purpose, persons=persons,
                              detail=detail)
        read = self.warehouse.read_personal(PERSONAL, {"persons": persons}, action=action, subject=subject,
                                            detail=dict(detail))
        records = {row["person_id"]: row for row in read.dicts()}
        return {person: masking.person_view(records.get(person), full) for person in persons}
