"""A venue with an owner, a staff phone and an area officer; a case; confirmed alerts of
it: what the notifier's tests tell."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from pipeline.access.caller import Role
from pipeline.access.directory import AccountDirectory
from schemas import Account, Alert, AlertStatus, Case, CaseStatus, PersonalData, Venue
from schemas.cases import venue_alert_id
from schemas.ids import CASE, PERSON, VENUE, new_id

OWNER, STAFF, OFFICER = "0981234791", "0912345678", "0387654321"
CASE_PHONE, CASE_NAME, CASE_NOTE = "0701112223", "Nguyễn Văn Bệnh", "fever since Monday, works at the port"
AREA_PATH = ("74", "718", "25741")


def venue(name: str = "Chợ Thủ Dầu Một") -> Venue:
    return Venue(venue_id=new_id(VENUE), name=name, area_id=AREA_PATH[-1], area_path=AREA_PATH, category="market",
                 default_stay_minutes=60, max_stay_minutes=240, owner_phone=OWNER, staff_phones=(STAFF,))


def officer(area: str = "718") -> Account:
    return Account(phone=OFFICER, role=Role.area_officer, area_id=area, added_by="admin:test")


def directory_of(*venues: Venue, accounts: tuple[Account, ...] = ()) -> AccountDirectory:
    directory = AccountDirectory()
    for v in venues:
        directory.apply_venue(v.venue_id.encode(), v.to_bytes())
    for a in accounts:
        directory.apply_account(a.phone.encode(), a.to_bytes())
    return directory


def the_case() -> tuple[Case, PersonalData]:
    person = new_id(PERSON)
    case = Case(case_id=new_id(CASE), person_id=person, status=CaseStatus.confirmed, onset=date(2026, 11, 18),
                note=CASE_NOTE, registered_by="tracer:test")
    return case, PersonalData(person_id=person, full_name=CASE_NAME, phone=CASE_PHONE, id_number="012345678901")


def confirmed_alert(case: Case, venue_id: str, hour: int = 1, version: int = 2,
                    status: AlertStatus = AlertStatus.confirmed) -> Alert:
    start = datetime(2026, 11, 17, hour, tzinfo=timezone.utc)
    return Alert(alert_id=venue_alert_id(case.case_id, venue_id), version=version, status=status, venue_id=venue_id,
                 case_ids=[case.case_id], first_presence=start, last_presence=start + timedelta(hours=1), visits=1,
                 exposed=3, registered_at=datetime(2026, 11, 20, tzinfo=timezone.utc), seconds_from_registration=1.5,
                 reason="confirmed", confirmed_by="tracer:test")


def personal_strings(case: Case, personal: PersonalData) -> list[str]:
    """What must never leave in a notification, or reach a log of the notifier."""
    return [case.person_id, case.case_id, CASE_NAME, CASE_PHONE, CASE_NOTE, "fever", personal.id_number,
            case.onset.isoformat()]


def webhooks_setting(**endpoints: tuple[str, str]) -> str:
    return json.dumps([{"name": name, "url": url, "secret": secret} for name, (url, secret) in endpoints.items()])
