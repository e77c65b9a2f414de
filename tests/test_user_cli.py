"""`ravao user add|list|disable|enable` publish accounts that a running directory follows
on the real broker: an added user signs in with their role, a venue's staff phone is an
account with nothing else to do, and a disabled phone's live session ends."""

from __future__ import annotations

import asyncio

import pytest

from conftest import FIXTURES, run_cli, settings_env
from pipeline.access.caller import Grant, Role
from pipeline.access.directory import AccountDirectory
from pipeline.access.http import SignIn
from pipeline.registry import read_latest
from pipeline.settings import Settings
from pipeline.topics import Topics
from schemas import Account

pytestmark = pytest.mark.kafka
OWNER, STAFF, OFFICER, TRACER = "0981234791", "0912345678", "0387654321", "0355555555"


@pytest.fixture
def env(settings: Settings, topics: Topics) -> dict[str, str]:
    env = settings_env(settings)
    run_cli("areas", "load", str(FIXTURES / "areas-three-tier.json"), env=env)
    return env


def add_venue(env: dict[str, str]) -> str:
    return run_cli("venue", "add", "--name", "Chợ Thủ Dầu Một", "--area", "25741", "--category", "market",
                   "--owner-phone", OWNER, "--staff-phone", STAFF, env=env).stdout.strip()


def test_added_users_and_venue_phones_sign_in_and_a_disabled_phone_stops_at_once(
        settings: Settings, topics: Topics, env: dict[str, str]) -> None:
    venue_id = add_venue(env)
    run_cli("user", "add", "--phone", OFFICER, "--role", "area_officer", "--area", "718", env=env)

    async def scenario() -> None:
        directory = AccountDirectory()
        service = SignIn(settings, directory)  # what a web process runs
        await asyncio.wait_for(service.start(settings.kafka_bootstrap, topics), 60)
        follower, sessions = service.follower, service.sessions
        try:
            assert directory.caller_for(OFFICER).grants == (Grant(Role.area_officer, area_id="718"),)
            assert directory.caller_for(STAFF).grants == (Grant(Role.venue_staff, venue_id=venue_id),)  # no user add
            assert directory.caller_for(TRACER) is None

            staff_token, _ = sessions.start(STAFF)
            officer_token, _ = sessions.start(OFFICER)
            assert sessions.resolve(staff_token) is not None

            await asyncio.to_thread(run_cli, "user", "disable", "--phone", STAFF, env=env)
            await asyncio.to_thread(run_cli, "user", "disable", "--phone", OFFICER, env=env)
            await follower.catch_up()
            assert directory.caller_for(STAFF) is None
            assert sessions.resolve(staff_token) is None and sessions.resolve(officer_token) is None

            await asyncio.to_thread(run_cli, "user", "enable", "--phone", STAFF, env=env)
            await asyncio.to_thread(run_cli, "user", "add", "--phone", TRACER, "--role", "tracer", env=env)
            await follower.catch_up()
            assert directory.caller_for(STAFF).grants == (Grant(Role.venue_staff, venue_id=venue_id),)
            assert directory.caller_for(TRACER).grants == (Grant(Role.tracer),)
            assert sessions.resolve(staff_token) is None  # an ended session stays ended
        finally:
            await service.stop()

    asyncio.run(scenario())
    # Enabling a venue phone again leaves it to its venue: no account of its own.
    accounts = read_latest(settings.kafka_bootstrap, topics.accounts, Account)
    assert STAFF not in accounts and accounts[OFFICER].active is False and accounts[OFFICER].added_by.startswith("admin:")


def test_user_list_is_masked_unless_full_and_marks_the_venue_phones(settings: Settings, topics: Topics,
                                                                    env: dict[str, str]) -> None:
    venue_id = add_venue(env)
    run_cli("user", "add", "--phone", TRACER, "--role", "tracer", env=env)
    run_cli("user", "disable", "--phone", STAFF, env=env)
    masked = run_cli("user", "list", env=env).stdout
    for phone in (OWNER, STAFF, TRACER):
        assert phone not in masked
    lines = {tuple(line.split()) for line in masked.splitlines()[1:]}
    assert lines == {("098****791", "venue_owner", venue_id, "yes", "venue"),
                     ("091****678", "venue_staff", venue_id, "no", "venue"),
                     ("035****555", "tracer", "-", "yes", "account")}
    full = run_cli("user", "list", "--full", env=env).stdout
    assert OWNER in full and STAFF in full and TRACER in full


@pytest.mark.parametrize("args, message", [
    (["--phone", "12345", "--role", "tracer"], "not a Vietnamese mobile number"),
    (["--phone", OFFICER, "--role", "venue_staff"], "needs --venue"),
    (["--phone", OFFICER, "--role", "venue_owner", "--venue", "VEXBBBBBBBBBBBB"], "unknown venue"),
    (["--phone", OFFICER, "--role", "area_officer"], "needs --area"),
    (["--phone", OFFICER, "--role", "area_officer", "--area", "99999"], "unknown area"),
    (["--phone", OFFICER, "--role", "tracer", "--area", "718"], "neither --venue nor --area"),
    (["--phone", OFFICER, "--role", "superuser"], "superuser"),
])
def test_a_bad_user_add_says_what_is_wrong_and_publishes_nothing(
        settings: Settings, topics: Topics, env: dict[str, str], args: list[str], message: str) -> None:
    result = run_cli("user", "add", *args, env=env, check=False)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert read_latest(settings.kafka_bootstrap, topics.accounts, Account) == {}


def test_disabling_a_phone_without_an_account_says_so(settings: Settings, topics: Topics,
                                                      env: dict[str, str]) -> None:
    result = run_cli("user", "disable", "--phone", TRACER, env=env, check=False)
    assert result.returncode == 2 and "no account has this phone" in result.stderr
