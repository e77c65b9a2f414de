"""Who is asking: the vocabulary of the one authorization layer.

    Role          what an account may do
    Grant         one role at one place (a venue, an area) or everywhere
    Caller        the person or process behind a request, with all of its grants

An account is a phone number (people) or a service name (``web``, ``alerts``, the local
``admin`` of the machine that holds the warehouse). A phone may hold several grants:
the owner of two venues, a staff phone at another. The registry gives the venue grants
(a venue's owner phone and staff phones, nothing else to do); `ravao user add` gives the
rest. Every decision about what a caller may read is made in `pipeline.access.policy`.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    venue_staff = "venue_staff"  # their venue: feed, who is inside; names masked unless privileged
    venue_owner = "venue_owner"  # the same, plus staff and devices
    area_officer = "area_officer"  # an area and everything below it: counts, masked lists
    tracer = "tracer"  # full personal data, every read audited with its purpose (a case)
    admin = "admin"  # everything; the CLI on the warehouse's machine acts as admin


VENUE_ROLES = frozenset({Role.venue_staff, Role.venue_owner})


@dataclass(frozen=True)
class Grant:
    role: Role
    venue_id: str | None = None  # venue roles
    area_id: str | None = None  # area officers

    def __post_init__(self) -> None:
        if self.role in VENUE_ROLES and not self.venue_id:
            raise ValueError(f"a {self.role} grant needs a venue")
        if self.role is Role.area_officer and not self.area_id:
            raise ValueError("an area_officer grant needs an area")
        if self.role not in VENUE_ROLES and self.venue_id:
            raise ValueError(f"a {self.role} grant takes no venue")
        if self.role is not Role.area_officer and self.area_id:
            raise ValueError(f"a {self.role} grant takes no area")

    def describe(self) -> str:
        where = self.venue_id or self.area_id
        return f"{self.role}" + (f" at {where}" if where else "")


@dataclass(frozen=True)
class Caller:
    """``actor`` names the account in audit rows and logs: a phone is kept masked there
    (`pipeline.privacy.mask_phone`), a service by its name. ``session_id`` is None for
    the CLI and services."""

    actor: str
    grants: tuple[Grant, ...] = ()
    session_id: str | None = None
    phone: str | None = field(default=None, repr=False)

    def has(self, *roles: Role) -> bool:
        return any(grant.role in roles for grant in self.grants)

    @property
    def is_admin(self) -> bool:
        return self.has(Role.admin)

    def venues(self) -> frozenset[str]:
        return frozenset(g.venue_id for g in self.grants if g.role in VENUE_ROLES and g.venue_id)

    def areas(self) -> frozenset[str]:
        return frozenset(g.area_id for g in self.grants if g.role is Role.area_officer and g.area_id)


def local_account() -> str:
    """The operating-system account this process runs as (not $USER, which a caller sets)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def local_admin(account: str) -> Caller:
    """The CLI on the machine that holds the warehouse: ``account`` is the operating
    system's name for whoever runs it."""
    return Caller(actor=f"admin:{account}", grants=(Grant(Role.admin),))


def service(name: str) -> Caller:
    """A process of the platform (``web``, ``alerts``), before it acts for anyone."""
    return Caller(actor=f"service:{name}")
