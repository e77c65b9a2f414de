"""`ravao areas|venue|person|device` publish registry records that a reader gets back
from the real broker; bad requests are refused with a message and publish nothing."""

from __future__ import annotations

import pytest

from conftest import FIXTURES, run_cli, settings_env
from pipeline.registry import read_latest, token_hash
from pipeline.settings import Settings
from pipeline.topics import Topics
from schemas import Area, Device, Person, PersonalData, Venue

pytestmark = pytest.mark.kafka


@pytest.fixture
def env(settings: Settings, topics: Topics) -> dict[str, str]:
    env = settings_env(settings)
    run_cli("areas", "load", str(FIXTURES / "areas-three-tier.json"), env=env)
    return env


def test_areas_published_by_the_cli_are_read_back(settings: Settings, topics: Topics, env: dict[str, str]) -> None:
    areas = read_latest(settings.kafka_bootstrap, topics.areas, Area)
    assert len(areas) == 9
    assert areas["25741"].path == ("74", "718", "25741")


def test_a_venue_person_and_device_round_trip_through_kafka(settings: Settings, topics: Topics, env: dict[str, str]) -> None:
    venue_id = run_cli("venue", "add", "--name", "Chợ Thủ Dầu Một", "--area", "25741", "--category", "market",
                       "--owner-phone", "098 123 4791", "--staff-phone", "+84912345678", env=env).stdout.strip()
    venue = read_latest(settings.kafka_bootstrap, topics.venues, Venue)[venue_id]
    assert venue.name == "Chợ Thủ Dầu Một" and venue.area_path == ("74", "718", "25741")
    assert venue.owner_phone == "0981234791" and venue.staff_phones == ("0912345678",)
    assert (venue.default_stay_minutes, venue.max_stay_minutes, venue.privileged) == (60, 240, False)

    person_id = run_cli("person", "add", "--name", "Nguyễn Văn An", "--phone", "0981234791",
                        "--home-area", "25741", env=env).stdout.strip()
    person = read_latest(settings.kafka_bootstrap, topics.persons, Person)[person_id]
    assert person.home_area_id == "25741"
    assert "Nguyễn" not in person.model_dump_json()  # personal data lives apart
    personal = read_latest(settings.kafka_bootstrap, topics.personal_data, PersonalData)[person_id]
    assert personal.full_name == "Nguyễn Văn An"

    device_id, token = run_cli("device", "add", "--venue", venue_id, "--kind", "guard_phone",
                               "--phone", "0912345678", env=env).stdout.split()
    device = read_latest(settings.kafka_bootstrap, topics.devices, Device)[device_id]
    assert device.venue_id == venue_id and device.token_sha256 == token_hash(token)
    assert token not in device.model_dump_json()


def test_a_hospital_is_privileged_by_default(settings: Settings, topics: Topics, env: dict[str, str]) -> None:
    venue_id = run_cli("venue", "add", "--name", "Bệnh viện", "--area", "718", "--category", "hospital",
                       "--owner-phone", "0981234791", env=env).stdout.strip()
    assert read_latest(settings.kafka_bootstrap, topics.venues, Venue)[venue_id].privileged


@pytest.mark.parametrize("args, message", [
    (["venue", "add", "--name", "X", "--area", "99999", "--category", "shop", "--owner-phone", "0981234791"],
     "unknown area '99999'"),
    (["venue", "add", "--name", "X", "--area", "25741", "--category", "shop", "--owner-phone", "12345"],
     "is not a Vietnamese mobile number"),
    (["device", "add", "--venue", "VBBBBBBBBBBBBBB", "--kind", "reader_station"], "unknown venue"),
    (["person", "add", "--name", "X", "--phone", "0123"], "is not a Vietnamese mobile number"),
    (["areas", "load", "vn-1999"], "neither a file nor a known source"),
])
def test_bad_requests_are_refused_with_a_message_and_publish_nothing(
    settings: Settings, topics: Topics, env: dict[str, str], args: list[str], message: str
) -> None:
    result = run_cli(*args, env=env, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert read_latest(settings.kafka_bootstrap, topics.venues, Venue) == {}
    assert read_latest(settings.kafka_bootstrap, topics.devices, Device) == {}
    assert read_latest(settings.kafka_bootstrap, topics.persons, Person) == {}


def test_a_guard_phone_must_be_authorised_by_the_venue(settings: Settings, topics: Topics, env: dict[str, str]) -> None:
    venue_id = run_cli("venue", "add", "--name", "Xưởng", "--area", "25741", "--category", "factory",
                       "--owner-phone", "0981234791", env=env).stdout.strip()
    refused = run_cli("device", "add", "--venue", venue_id, "--kind", "guard_phone", "--phone", "0911111111",
                      env=env, check=False)
    assert refused.returncode == 2 and "add-staff" in refused.stderr
    run_cli("venue", "add-staff", venue_id, "0911111111", env=env)
    device_id, _ = run_cli("device", "add", "--venue", venue_id, "--kind", "guard_phone",
                           "--phone", "0911111111", env=env).stdout.split()
    assert device_id in read_latest(settings.kafka_bootstrap, topics.devices, Device)


def test_qr_check_tells_a_genuine_code_from_a_garbled_one(settings: Settings, env: dict[str, str]) -> None:
    from pipeline.keys import load_codec

    code = load_codec(settings).encode("P" + "C" * 14)
    assert "valid person code" in run_cli("qr", "check", code, "--expect", "person", env=env).stdout
    garbled = run_cli("qr", "check", code.lower(), env=env, check=False)
    assert garbled.returncode == 1 and "lowercase" in garbled.stdout
