"""Managing accounts (`ravao user add|list|disable|enable`): the rules, over the registry.

    add_user(registry, phone, Role.area_officer, area_id="718", added_by="admin:ops")
    set_active(registry, phone, False, added_by=...)   # disable: sessions end at once
    listing(registry) -> [UserRow, ...]                 # accounts, and the venues' phones

A venue's owner and staff phones need no `user add`: the registry makes them accounts.
Disabling such a phone publishes an account for it with ``active = false`` (the registry
alone cannot say "not this phone"); enabling it again removes that account, so the phone
is back to exactly what its venues give it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.privacy import mask_phone
from pipeline.registry import Registry, RegistryError
from schemas.accounts import Account
from schemas.base import utcnow
from schemas.registry import Venue, normalise_phone

from .caller import VENUE_ROLES, Grant, Role


def _phone(raw: str) -> str:
    try:
        return normalise_phone(raw)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None


def add_user(registry: Registry, phone: str, role: Role, *, venue_id: str | None = None,
             area_id: str | None = None, added_by: str) -> Account:
    """Give ``phone`` the account ``role`` (replacing its previous account, if any)."""
    phone = _phone(phone)
    if role in VENUE_ROLES:
        if not venue_id or area_id:
            raise RegistryError(f"a {role} account needs --venue (and no --area): the venue it works at")
        venue = registry.venues().get(venue_id)
        if venue is None:
            raise RegistryError(f"unknown venue {venue_id!r}: see its id in `ravao venue add`'s output")
        if not venue.active:
            raise RegistryError(f"venue {venue_id} is deactivated: it grants nothing")
    elif role is Role.area_officer:
        if not area_id or venue_id:
            raise RegistryError("an area_officer account needs --area (and no --venue): the area it oversees, "
                                "with everything below it")
        if area_id not in registry.areas():
            raise RegistryError(f"unknown area {area_id!r}: load areas first (`ravao areas load ...`)")
    elif venue_id or area_id:
        raise RegistryError(f"a {role} account takes neither --venue nor --area: it reaches every area")
    account = Account(phone=phone, role=role, venue_id=venue_id, area_id=area_id, added_by=added_by)
    registry.put_account(account)
    return account


def venue_grants(venues: dict[str, Venue]) -> dict[str, list[Grant]]:
    """The grants the registry gives each phone (active venues only)."""
    grants: dict[str, list[Grant]] = {}
    for venue in venues.values():
        if not venue.active:
            continue
        grants.setdefault(venue.owner_phone, []).append(Grant(Role.venue_owner, venue_id=venue.venue_id))
        for phone in venue.staff_phones:
            grants.setdefault(phone, []).append(Grant(Role.venue_staff, venue_id=venue.venue_id))
    return grants


def set_active(registry: Registry, phone: str, active: bool, *, added_by: str) -> None:
    phone = _phone(phone)
    account = registry.accounts().get(phone)
    from_venues = venue_grants(registry.venues()).get(phone, [])
    if account is None and not from_venues:
        raise RegistryError("no account has this phone: see `ravao user list`")
    if active:
        if account is None or account.active:
            return
        if account.grant() in from_venues:  # it only ever said "not this phone"
            registry.remove_account(phone)
            return
        registry.put_account(account.model_copy(update={"active": True, "added_by": added_by,
                                                        "updated_at": utcnow()}))
        return
    if account is not None:
        if account.active:
            registry.put_account(account.model_copy(update={"active": False, "added_by": added_by,
                                                            "updated_at": utcnow()}))
        return
    grant = from_venues[0]
    registry.put_account(Account(phone=phone, role=grant.role, venue_id=grant.venue_id, active=False,
                                 added_by=added_by))


@dataclass(frozen=True)
class UserRow:
    phone: str
    role: str
    where: str
    active: bool
    source: str  # "account" (ravao user add) or "venue" (the registry)


def listing(registry: Registry, *, full: bool = False) -> list[UserRow]:
    """Every account: the explicit ones, and the phones the venues make accounts. Phones
    masked unless ``full``."""
    accounts = registry.accounts()
    from_venues = venue_grants(registry.venues())
    show = (lambda p: p) if full else mask_phone
    rows = []
    for phone, account in accounts.items():
        if not account.active and account.grant() in from_venues.get(phone, []):
            continue  # a venue phone's "disabled" mark: listed with the venue rows below
        rows.append(UserRow(show(phone), account.role.value, account.venue_id or account.area_id or "-",
                            account.active, "account"))
    for phone, grants in from_venues.items():
        disabled = phone in accounts and not accounts[phone].active
        for grant in grants:
            rows.append(UserRow(show(phone), grant.role.value, grant.venue_id or "-", not disabled, "venue"))
    return sorted(rows, key=lambda r: (r.role, r.where, r.phone, r.source))
