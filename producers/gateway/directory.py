"""The registry as the gateway sees it: the worker's `RegistryCache`, plus what the
gateway alone needs — each device's token hash and kind, each venue's name and whether
it is privileged, each person's name for the guard's screen, the phone number on record
(where a phone-enrolment code is sent), and each person's enrolled phone key.

It is kept up to date by the worker's `RegistryFollower`, which is told to follow
`registry.personal_data` as well. Everything lives in memory (names included: they are
shown masked, or in full at privileged venues, and never logged); a gateway re-reads the
registry topics at every start. An enrolment is applied only if it is not older than the
one held: a gateway applies its own at once, before its follower reads it back.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from pipeline.registry_cache import RegistryCache
from pipeline.stream.registry_follower import RegistryFollower
from pipeline.topics import Topics
from schemas.enrolment import PhoneEnrolment, unb64url
from schemas.registry import Device, DeviceKind, PersonalData, Venue


# The label of a device the gateway publishes for a phone signed in as a guard (guard_session.py).
SESSION_LABEL = "guard session"


class DeviceAuth(NamedTuple):
    token_sha256: str
    kind: DeviceKind


class VenueLabel(NamedTuple):
    name: str
    privileged: bool


class EnrolledKey(NamedTuple):
    key_id: str
    public_key: bytes  # raw P-256 point
    enrolled_at: datetime


class GatewayDirectory(RegistryCache):
    def __init__(self) -> None:
        super().__init__()
        self.device_auth: dict[str, DeviceAuth] = {}
        self.venue_labels: dict[str, VenueLabel] = {}
        self._names: dict[str, str] = {}
        self._phones: dict[str, str] = {}  # person id -> phone number on record; never logged
        self._keys: dict[str, EnrolledKey] = {}
        self._session_devices: dict[tuple[str, str], str] = {}  # (venue id, staff phone) -> device id

    def apply_venue(self, key: bytes, value: bytes | None) -> Venue | None:
        venue = super().apply_venue(key, value)
        if venue is None:
            self.venue_labels.pop(key.decode(), None)
            return None
        self.venue_labels[venue.venue_id] = VenueLabel(venue.name, venue.privileged)
        return venue

    def apply_device(self, key: bytes, value: bytes | None) -> Device | None:
        device = super().apply_device(key, value)
        if device is None:
            self.device_auth.pop(key.decode(), None)
            return None
        self.device_auth[device.device_id] = DeviceAuth(device.token_sha256, device.kind)
        if device.phone and device.kind is DeviceKind.guard_phone and (device.label or "").startswith(SESSION_LABEL):
            self._session_devices.setdefault((device.venue_id, device.phone), device.device_id)
        return device

    def session_device(self, venue_id: str, phone: str) -> str | None:
        """The device of a phone signed in as a guard at a venue, if one was published."""
        return self._session_devices.get((venue_id, phone))

    def apply_personal_data(self, key: bytes, value: bytes | None) -> None:
        person_id = key.decode()
        if value is None:
            self._names.pop(person_id, None)
            self._phones.pop(person_id, None)
            return
        data = PersonalData.model_validate_json(value)
        self._names[person_id] = data.full_name
        if data.phone:
            self._phones[person_id] = data.phone
        else:
            self._phones.pop(person_id, None)

    def apply_enrolment(self, key: bytes, value: bytes | None) -> None:
        person_id = key.decode()
        if value is None:
            self._keys.pop(person_id, None)
            return
        record = PhoneEnrolment.from_bytes(value)
        held = self._keys.get(person_id)
        if held is not None and held.enrolled_at > record.enrolled_at:
            return
        self._keys[person_id] = EnrolledKey(record.key_id, unb64url(record.public_key), record.enrolled_at)

    def phone(self, person_id: str) -> str | None:
        return self._phones.get(person_id)

    def enrolled_key(self, person_id: str) -> EnrolledKey | None:
        return self._keys.get(person_id)

    def full_name(self, person_id: str) -> str | None:
        return self._names.get(person_id)


class GatewayFollower(RegistryFollower):
    """The worker's follower over venues, devices and persons; personal data and phone
    enrolments too."""

    def __init__(self, bootstrap: str, topics: Topics, directory: GatewayDirectory) -> None:
        super().__init__(bootstrap, topics, directory)
        self.appliers[topics.personal_data.name] = (directory.apply_personal_data, False)
        self.appliers[topics.phone_enrolments.name] = (directory.apply_enrolment, False)
