"""Who a phone is, from the venue registry and the accounts, and how long a session lasts.
Pure: records applied by hand, a hand-driven clock, no Kafka."""

from __future__ import annotations

import pytest

from conftest import Clock

from pipeline.access import sessions as sessions_module
from pipeline.access.caller import Grant, Role
from pipeline.access.directory import AccountDirectory
from pipeline.access.sessions import Sessions
from pipeline.settings import Settings
from schemas import Account, Venue, VenueCategory

OWNER, STAFF, OFFICER, STRANGER = "0981234791", "0912345678", "0387654321", "0901111111"
VENUE_A, VENUE_B = "VEXBBBBBBBBBBBB", "VEXCCCCCCCCCCCC"


def venue(venue_id: str, owner: str, staff: tuple[str, ...] = (), **changes) -> Venue:
    return Venue(venue_id=venue_id, name="Chợ", area_id="25741", area_path=("74", "718", "25741"),
                 category=VenueCategory.market, default_stay_minutes=60, max_stay_minutes=240,
                 owner_phone=owner, staff_phones=staff, **changes)


def account(phone: str, role: Role, **scope) -> Account:
    return Account(phone=phone, role=role, added_by="admin:ops", **scope)


def apply(directory: AccountDirectory, record: Venue | Account) -> None:
    if isinstance(record, Venue):
        directory.apply_venue(record.venue_id.encode(), record.to_bytes())
    else:
        directory.apply_account(record.phone.encode(), record.to_bytes())


@pytest.fixture
def directory() -> AccountDirectory:
    directory = AccountDirectory()
    apply(directory, venue(VENUE_A, OWNER, (STAFF,)))
    apply(directory, venue(VENUE_B, STAFF))
    apply(directory, account(OFFICER, Role.area_officer, area_id="718"))
    return directory


def test_a_venues_owner_and_staff_phones_are_its_accounts(directory: AccountDirectory) -> None:
    owner = directory.caller_for(OWNER)
    assert owner.grants == (Grant(Role.venue_owner, venue_id=VENUE_A),)
    assert owner.actor == "098****791" and owner.phone == OWNER
    staff = directory.caller_for("+84912345678")  # any spelling of the number
    assert set(staff.grants) == {Grant(Role.venue_staff, venue_id=VENUE_A), Grant(Role.venue_owner, venue_id=VENUE_B)}


def test_an_explicit_account_adds_its_role_to_the_venue_grants(directory: AccountDirectory) -> None:
    assert directory.caller_for(OFFICER).grants == (Grant(Role.area_officer, area_id="718"),)
    apply(directory, account(OWNER, Role.tracer))
    assert set(directory.caller_for(OWNER).grants) == {Grant(Role.venue_owner, venue_id=VENUE_A), Grant(Role.tracer)}


def test_an_unknown_phone_or_not_a_phone_is_nobody(directory: AccountDirectory) -> None:
    assert directory.caller_for(STRANGER) is None
    assert directory.caller_for("not a phone") is None


def test_a_disabled_account_is_nobody_even_where_the_registry_names_it(directory: AccountDirectory) -> None:
    apply(directory, account(STAFF, Role.venue_staff, venue_id=VENUE_A).model_copy(update={"active": False}))
    assert directory.caller_for(STAFF) is None
    apply(directory, account(STAFF, Role.venue_staff, venue_id=VENUE_A))
    assert directory.caller_for(STAFF) is not None


def test_a_staff_phone_removed_from_its_venue_loses_that_grant(directory: AccountDirectory) -> None:
    apply(directory, venue(VENUE_A, OWNER))
    assert directory.caller_for(STAFF).grants == (Grant(Role.venue_owner, venue_id=VENUE_B),)
    apply(directory, venue(VENUE_B, OWNER))
    assert directory.caller_for(STAFF) is None
    assert set(directory.caller_for(OWNER).grants) == {Grant(Role.venue_owner, venue_id=VENUE_A),
                                                       Grant(Role.venue_owner, venue_id=VENUE_B)}


def test_an_inactive_or_deleted_venue_grants_nothing(directory: AccountDirectory) -> None:
    apply(directory, venue(VENUE_A, OWNER, (STAFF,), active=False))
    assert directory.caller_for(OWNER) is None
    directory.apply_venue(VENUE_B.encode(), None)
    assert directory.caller_for(STAFF) is None


def test_an_explicit_venue_account_grants_nothing_once_its_venue_is_deactivated_or_deleted(
        directory: AccountDirectory) -> None:
    apply(directory, account(STRANGER, Role.venue_staff, venue_id=VENUE_A))  # `ravao user add --venue`
    assert directory.caller_for(STRANGER).venues() == {VENUE_A}
    apply(directory, venue(VENUE_A, OWNER, (STAFF,), active=False))
    assert directory.caller_for(STRANGER) is None
    apply(directory, venue(VENUE_A, OWNER, (STAFF,)))
    assert directory.caller_for(STRANGER).venues() == {VENUE_A}
    directory.apply_venue(VENUE_A.encode(), None)
    assert directory.caller_for(STRANGER) is None


def test_a_deleted_account_leaves_the_venue_grants(directory: AccountDirectory) -> None:
    apply(directory, account(OWNER, Role.tracer).model_copy(update={"active": False}))
    assert directory.caller_for(OWNER) is None
    directory.apply_account(OWNER.encode(), None)
    assert directory.caller_for(OWNER).grants == (Grant(Role.venue_owner, venue_id=VENUE_A),)


# --- sessions ------------------------------------------------------------------------------



@pytest.fixture
def sessions(directory: AccountDirectory, clock: Clock) -> Sessions:
    return Sessions(directory, Settings(), clock=clock)


def test_a_session_resolves_to_the_phones_current_grants(sessions: Sessions, directory: AccountDirectory) -> None:
    token, expires_at = sessions.start(OWNER)
    assert len(token) >= 43 and expires_at.timestamp() == sessions.clock() + Settings().session_ttl_seconds
    caller = sessions.resolve(token)
    assert caller.grants == (Grant(Role.venue_owner, venue_id=VENUE_A),) and caller.session_id
    assert caller.session_id not in token
    apply(directory, account(OWNER, Role.tracer))
    assert Grant(Role.tracer) in sessions.resolve(token).grants


def test_a_token_is_kept_only_as_its_hash(sessions: Sessions) -> None:
    token, _ = sessions.start(OWNER)
    assert token not in sessions._sessions and all(token not in repr(s) for s in sessions._sessions.values())


def test_an_expired_session_is_refused_however_busy(directory: AccountDirectory, clock: Clock) -> None:
    sessions = Sessions(directory, Settings(session_ttl_seconds=3600, session_idle_seconds=3600), clock=clock)
    token, _ = sessions.start(OWNER)
    clock.now += 1800
    assert sessions.resolve(token) is not None
    clock.now += 1799
    assert sessions.resolve(token) is not None
    clock.now += 1  # used a second ago, but an hour old
    assert sessions.resolve(token) is None


def test_an_idle_session_is_refused(sessions: Sessions, clock: Clock) -> None:
    token, _ = sessions.start(OWNER)
    clock.now += Settings().session_idle_seconds - 1
    assert sessions.resolve(token) is not None
    clock.now += Settings().session_idle_seconds
    assert sessions.resolve(token) is None


def test_a_disabled_users_session_stops_at_once(sessions: Sessions, directory: AccountDirectory) -> None:
    token, _ = sessions.start(STAFF)
    assert sessions.resolve(token) is not None
    apply(directory, account(STAFF, Role.venue_staff, venue_id=VENUE_A).model_copy(update={"active": False}))
    assert sessions.resolve(token) is None
    apply(directory, account(STAFF, Role.venue_staff, venue_id=VENUE_A))
    assert sessions.resolve(token) is None  # ended, not suspended: sign in again


def test_sign_out_ends_the_session(sessions: Sessions) -> None:
    token, _ = sessions.start(OWNER)
    other, _ = sessions.start(OWNER)
    assert sessions.end(token) and not sessions.end(token)
    assert sessions.resolve(token) is None and sessions.resolve(other) is not None


def test_an_unknown_or_empty_token_is_nobody(sessions: Sessions) -> None:
    assert sessions.resolve("x" * 43) is None and sessions.resolve("") is None and sessions.resolve(None) is None


def test_sessions_stay_bounded(monkeypatch: pytest.MonkeyPatch, sessions: Sessions) -> None:
    monkeypatch.setattr(sessions_module, "MAX_SESSIONS", 10)
    monkeypatch.setattr(sessions_module, "MAX_PER_PHONE", 3)
    mine = [sessions.start(OWNER)[0] for _ in range(5)]
    assert [sessions.resolve(t) is not None for t in mine] == [False, False, True, True, True]
    for _ in range(20):
        sessions.start(STAFF)
    assert len(sessions) <= 10
