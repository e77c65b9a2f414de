"""The registry as the gateway sees it: the worker's `RegistryCache`, plus what the
gateway alone needs — each device's token hash and kind, each venue's name and whether
it is privileged, and each person's name for the guard's screen.

It is kept up to date by the worker's `RegistryFollower`, which is told to follow
`registry.personal_data` as well. Everything lives in memory (names included: they are
shown masked, or in full at privileged venues, and never logged); a gateway re-reads the
registry topics at every start.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from pipeline.registry_cache import RegistryCache
from pipeline.stream.registry_follower import RegistryFollower
from pipeline.topics import Topics
from schemas.registry import DeviceKind


class DeviceAuth(NamedTuple):
    token_sha256: str
    kind: DeviceKind


class VenueLabel(NamedTuple):
    name: str
    privileged: bool


class GatewayDirectory(RegistryCache):
    def __init__(self) -> None:
        super().__init__()
        self.device_auth: dict[str, DeviceAuth] = {}
        self.venue_labels: dict[str, VenueLabel] = {}
        self._names: dict[str, str] = {}

    def apply_venue(self, key: bytes, value: bytes | None) -> None:
        super().apply_venue(key, value)
        if value is None:
            self.venue_labels.pop(key.decode(), None)
            return
        v = json.loads(value)
        self.venue_labels[v["venue_id"]] = VenueLabel(v["name"], bool(v.get("privileged", False)))

    def apply_device(self, key: bytes, value: bytes | None) -> None:
        super().apply_device(key, value)
        if value is None:
            self.device_auth.pop(key.decode(), None)
            return
        d = json.loads(value)
        self.device_auth[d["device_id"]] = DeviceAuth(d["token_sha256"], DeviceKind(d["kind"]))

    def apply_personal_data(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self._names.pop(key.decode(), None)
            return
        self._names[key.decode()] = json.loads(value)["full_name"]

    def full_name(self, person_id: str) -> str | None:
        return self._names.get(person_id)


class GatewayFollower(RegistryFollower):
    """The worker's follower over venues, devices and persons, and personal data too."""

    def __init__(self, bootstrap: str, topics: Topics, directory: GatewayDirectory) -> None:
        super().__init__(bootstrap, topics, directory)
        self.appliers[topics.personal_data.name] = (directory.apply_personal_data, False)
