"""A generated day behind the web pages, with an account for every role: the shared
setup of the web tests (`test_web_*`). Module-scoped: one warehouse (chdb, one engine per
process) and one served app per test module; a module that uses these must not open
another warehouse meanwhile.

    from web_day import *  # noqa: F401,F403 (the fixtures)
    from web_day import COMMUNE_OFFICER

    def test_x(web_base, page, web_sms): sign_in_by_page(page, web_base, COMMUNE_OFFICER, web_sms)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashboards.web import create_app
from pipeline.access.caller import Role
from pipeline.access.directory import AccountDirectory
from pipeline.access.http import SignIn
from pipeline.settings import Settings
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.migrations import migrate
from schemas import Account, PersonalData, ValidScan, VenueCategory
from warehouse_day import GeneratedDay, generate_day, load_day, load_records
from web_helpers import KeptSms, served

COMMUNE, DISTRICT, PROVINCE = "25741", "718", "74"
COMMUNE_OFFICER, DISTRICT_OFFICER, PROVINCE_OFFICER, TRACER, ADMIN = (
    "0901000001", "0901000002", "0901000006", "0901000003", "0901000004")
OWNER, HOSPITAL_STAFF, HOSPITAL_OWNER = "0981234791", "0912000001", "0981111111"
ACCOUNTS = {COMMUNE_OFFICER: (Role.area_officer, COMMUNE), DISTRICT_OFFICER: (Role.area_officer, DISTRICT),
            PROVINCE_OFFICER: (Role.area_officer, PROVINCE), TRACER: (Role.tracer, None), ADMIN: (Role.admin, None)}


@pytest.fixture(scope="module")
def web_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("web")
    return Settings(data_dir=home / "data", clickhouse_url=None, session_cookie_secure=False)


@pytest.fixture(scope="module")
def web_warehouse(web_settings: Settings):
    opened = open_warehouse(web_settings)
    try:
        migrate(opened, web_settings.retention_days)
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module")
def web_day(web_warehouse) -> GeneratedDay:
    """Two days ago: 80 people, 6 venues and 3 idle ones in three communes. The first
    venue is a privileged hospital (owner HOSPITAL_OWNER, staff HOSPITAL_STAFF); OWNER owns
    the second (every other venue too, but only these two are in the directory)."""
    generated = generate_day(persons=80, venues=6, seed=5)
    venues = generated.venues
    venues[0] = venues[0].model_copy(update={"privileged": True, "category": VenueCategory.hospital,
                                             "owner_phone": HOSPITAL_OWNER, "staff_phones": (HOSPITAL_STAFF,)})
    load_day(web_warehouse, generated)
    load_records(web_warehouse, "scans_incoming", ValidScan, generated.unique_scans())
    load_records(web_warehouse, "personal_data", PersonalData, generated.personal, "person_id")
    return generated


@pytest.fixture(scope="module")
def web_directory(web_day: GeneratedDay) -> AccountDirectory:
    directory = AccountDirectory()
    for venue in web_day.venues[:2]:
        directory.apply_venue(venue.venue_id.encode(), venue.to_bytes())
    for phone, (role, area) in ACCOUNTS.items():
        account = Account(phone=phone, role=role, area_id=area, active=True, added_by="test")
        directory.apply_account(phone.encode(), account.to_bytes())
    return directory


@pytest.fixture(scope="module")
def web_sms() -> KeptSms:
    return KeptSms()


@pytest.fixture(scope="module")
def web_app(web_settings, web_warehouse, web_directory, web_sms):
    return create_app(web_settings, warehouse=web_warehouse, sign_in=SignIn(web_settings, web_directory, sms=web_sms))


@pytest.fixture(scope="module")
def web_base(web_app) -> Iterator[str]:
    """The app served on loopback for a browser: its base URL."""
    with served(web_app) as base:
        yield base


__all__ = ["web_app", "web_base", "web_day", "web_directory", "web_settings", "web_sms", "web_warehouse"]
