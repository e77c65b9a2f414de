"""Who a phone is: every grant it holds, from the `accounts` topic and `registry.venues`.

    directory.caller_for("0981234791") -> Caller(actor="098****791", grants=(...)) | None

A venue's owner phone is a `venue_owner` of it and each of its staff phones a
`venue_staff` of it, with nothing else to do (an inactive venue grants nothing). An
`Account` (`ravao user add`) adds its one role (one at a venue only while that venue is
active); an account with ``active = false``
disables the phone entirely, its venue grants included. A phone with no grant is None.

`AccountFollower` keeps the directory current the way the worker keeps its registry
(`RegistryFollower`): it reads both compacted topics to their end before ``ready``, then
tails them, so a disabled account is refused within a poll of the change.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable

from pipeline.privacy import mask_phone
from pipeline.registry_cache import RegistryCache
from pipeline.stream.registry_follower import RegistryFollower
from pipeline.topics import Topics
from schemas.accounts import Account
from schemas.registry import normalise_phone

from .caller import Caller, Grant, Role


class AccountDirectory(RegistryCache):
    """Also a `RegistryCache` of venues, so that the follower (and whoever checks that a
    venue exists) finds them as everywhere else."""

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, Account] = {}
        self.privileged_venues: set[str] = set()
        self.venue_names: dict[str, str] = {}  # venue id -> its name (the notifier's messages)
        self._venue_grants: dict[str, tuple[Grant, ...]] = {}  # phone -> its grants from venues
        self._venue_phones: dict[str, tuple[str, ...]] = {}  # venue id -> the phones it grants
        self._by_phone: dict[str, dict[str, tuple[Grant, ...]]] = {}  # phone -> venue id -> grants
        self._lock = threading.Lock()

    # --- appliers (the follower's, or anyone replaying the topics) -----------------------

    def apply_account(self, key: bytes, value: bytes | None) -> None:
        with self._lock:
            if value is None:
                self.accounts.pop(key.decode(), None)
                return
            account = Account.from_bytes(value)
            self.accounts[account.phone] = account

    def apply_venue(self, key: bytes, value: bytes | None) -> None:
        super().apply_venue(key, value)
        venue_id = key.decode()
        grants: dict[str, list[Grant]] = {}
        privileged = False
        if value is not None:
            venue = json.loads(value)
            privileged = bool(venue.get("privileged", False))
            if venue.get("active", True):
                grants.setdefault(venue["owner_phone"], []).append(Grant(Role.venue_owner, venue_id=venue_id))
                for phone in venue.get("staff_phones", ()):
                    grants.setdefault(phone, []).append(Grant(Role.venue_staff, venue_id=venue_id))
        with self._lock:
            if value is None:
                self.venue_names.pop(venue_id, None)
            else:
                self.venue_names[venue_id] = venue.get("name", venue_id)
            (self.privileged_venues.add if privileged else self.privileged_venues.discard)(venue_id)
            for phone in self._venue_phones.pop(venue_id, ()):
                held = self._by_phone.get(phone, {})
                held.pop(venue_id, None)
                if not held:
                    self._by_phone.pop(phone, None)
            for phone, given in grants.items():
                self._by_phone.setdefault(phone, {})[venue_id] = tuple(dict.fromkeys(given))
            if grants:
                self._venue_phones[venue_id] = tuple(grants)

    # --- questions --------------------------------------------------------------------

    def caller_for(self, phone: str) -> Caller | None:
        try:
            phone = normalise_phone(phone)
        except ValueError:
            return None
        with self._lock:
            account = self.accounts.get(phone)
            if account is not None and not account.active:
                return None
            grants = [g for by_venue in self._by_phone.get(phone, {}).values() for g in by_venue]
        if account is not None and self._grants_something(account):
            grants.append(account.grant())
        if not grants:
            return None
        ordered = sorted(dict.fromkeys(grants), key=lambda g: (g.role, g.venue_id or "", g.area_id or ""))
        return Caller(actor=mask_phone(phone), grants=tuple(ordered), phone=phone)

    def _grants_something(self, account: Account) -> bool:
        """An account at a venue (`ravao user add --venue`) holds only while that venue
        exists and is active, as the venue's own phones do."""
        if account.venue_id is None:
            return True
        venue = self.venues.get(account.venue_id)
        return venue is not None and venue.active

    def phones_at_venue(self, venue_id: str) -> list[tuple[str, Role]]:
        """The phones a venue's registry record makes accounts of it (owner first), with
        their role there; none for an inactive venue, nor a phone whose account is disabled."""
        with self._lock:
            phones = [p for p in self._venue_phones.get(venue_id, ())
                      if p not in self.accounts or self.accounts[p].active]
            found = [(phone, grant.role) for phone in phones
                     for grant in self._by_phone.get(phone, {}).get(venue_id, ())]
        return sorted(found, key=lambda item: item[1] is not Role.venue_owner)

    def owner_phone(self, venue_id: str) -> str | None:
        """The phone the venue's registry record names its owner (none for an inactive venue)."""
        with self._lock:
            for phone in self._venue_phones.get(venue_id, ()):
                if any(g.role is Role.venue_owner for g in self._by_phone.get(phone, {}).get(venue_id, ())):
                    return phone
        return None

    def area_officers(self, area_ids: Iterable[str]) -> list[str]:
        """The active area_officer accounts of any of these areas."""
        wanted = set(area_ids)
        with self._lock:
            accounts = list(self.accounts.values())
        return sorted({a.phone for a in accounts
                       if a.active and a.role is Role.area_officer and a.area_id in wanted})

    def venue_phones(self) -> dict[str, tuple[Grant, ...]]:
        """Every phone the registry makes an account, with its venue grants."""
        with self._lock:
            return {phone: tuple(g for gs in held.values() for g in gs) for phone, held in self._by_phone.items()}


class AccountFollower(RegistryFollower):
    """The registry follower over `registry.venues` and `accounts` only."""

    def __init__(self, bootstrap: str, topics: Topics, directory: AccountDirectory) -> None:
        super().__init__(bootstrap, topics, directory)
        self.appliers = {
            topics.venues.name: (directory.apply_venue, False),
            topics.accounts.name: (directory.apply_account, False),
        }
