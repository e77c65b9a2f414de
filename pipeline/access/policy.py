"""What a caller may read, and how much of a person it may see: every rule in one place.

    require_area(caller, place)          an area officer's area and everything below it
    visible_path(caller, path)           the part of an area's path an officer may see (breadcrumbs)
    require_venue(caller, venue)         a venue's own staff and owner, the officers above it
    require_tracing(caller, purpose)     people's movements: tracers (with a case) and admins
    require_open_case(caller, purpose, status)  a tracer's case exists and is not cleared
    sees_in_full(caller, venue, purpose) names, phones, ID numbers in full, or masked

The places come from the warehouse (`Place`): an area with its path from the top tier,
a venue with the areas it lies in. A caller asking about a place it may not see is told
`Denied`, in the same words whether or not the place exists, so that a refusal reveals
nothing about other areas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .caller import Caller, Grant, Role


class Denied(PermissionError):
    """The caller may not read this; the message says what it may read instead."""


@dataclass(frozen=True)
class Place:
    """An area (``path`` ends with itself) or a venue (``path``: the areas it lies in)."""

    place_id: str
    name: str
    path: tuple[str, ...]
    privileged: bool = False  # venues whose staff see people in full (hospitals, checkpoints)


def _everywhere(caller: Caller) -> bool:
    return caller.has(Role.admin, Role.tracer)


def scope_words(caller: Caller) -> str:
    if caller.areas():
        return "your area" + ("s " if len(caller.areas()) > 1 else " ") + ", ".join(sorted(caller.areas()))
    if caller.venues():
        return "your venue" + ("s " if len(caller.venues()) > 1 else " ") + ", ".join(sorted(caller.venues()))
    return "nothing yet: ask an administrator for a role"


def covers(caller: Caller, path: Sequence[str]) -> bool:
    """Whether one of the caller's areas is ``path`` or above it."""
    return _everywhere(caller) or bool(caller.areas() & set(path))


def visible_path(caller: Caller, path: Sequence[str]) -> tuple[str, ...]:
    """The part of an area's ``path`` the caller may see: from the caller's own top area
    down (all of it for those who see every area)."""
    if _everywhere(caller):
        return tuple(path)
    for at, area_id in enumerate(path):
        if area_id in caller.areas():
            return tuple(path[at:])
    return ()


def require_area(caller: Caller, area_id: str, area: Place | None) -> Place:
    """The area if the caller may see its counts; `Denied` otherwise (also when the area
    is unknown, unless the caller may see every area: then it is told so)."""
    if area is not None and covers(caller, area.path):
        return area
    if area is None and _everywhere(caller):
        raise LookupError(f"no area {area_id!r}: `ravao areas load` first, or check the id")
    raise Denied(f"area {area_id!r} is outside what you may see ({scope_words(caller)})")


def require_venue(caller: Caller, venue_id: str, venue: Place | None) -> Place:
    """The venue if the caller works there, or an area officer's area contains it, or the
    caller traces; `Denied` otherwise."""
    if venue is not None and (venue.place_id in caller.venues() or covers(caller, venue.path)):
        return venue
    if venue is None and _everywhere(caller):
        raise LookupError(f"no venue {venue_id!r}")
    raise Denied(f"venue {venue_id!r} is outside what you may see ({scope_words(caller)})")


def require_staff(caller: Caller, venue: Place) -> None:
    """Venue management (staff phones, devices, posters): its owner, or an admin."""
    if caller.is_admin or any(g.role is Role.venue_owner and g.venue_id == venue.place_id for g in caller.grants):
        return
    raise Denied(f"only the owner of venue {venue.place_id} manages its staff and devices")


def require_tracing(caller: Caller, purpose: str | None) -> str:
    """People's own movements and contacts: tracers, who name the case they work on, and
    admins (whose purpose defaults to their role). Returns the purpose to audit."""
    if caller.is_admin:
        return purpose or "admin"
    if caller.has(Role.tracer):
        if not purpose or not purpose.strip():
            raise Denied("a tracer reads people's movements for a case: give the case id as the purpose")
        return purpose.strip()
    raise Denied("only tracers (for a case) and administrators read a person's movements and contacts")


def require_open_case(caller: Caller, purpose: str, status: str | None) -> None:
    """A tracer's purpose is a registered case that is not cleared (``status``, as the
    warehouse has it; None: no such case): a reason in free words would audit nothing.
    Admins name any purpose."""
    if caller.is_admin:
        return
    if status is None or status == "cleared":
        raise Denied(f"no open case {purpose[:40]!r}: a tracer names the id of a registered case that is not "
                     "cleared (a case reaches the warehouse a few seconds after it is registered)")


def require_case_management(caller: Caller) -> None:
    """Registering and changing cases: the health authority's tracers, and admins."""
    if not caller.has(Role.admin, Role.tracer):
        raise Denied("only tracers and administrators register and change cases")


def require_admin(caller: Caller, what: str) -> None:
    if not caller.is_admin:
        raise Denied(f"only administrators {what}")


def require_analyst(caller: Caller) -> None:
    """Free SQL over the warehouse's non-personal tables: tracers and admins."""
    if not caller.has(Role.admin, Role.tracer):
        raise Denied("free SQL is for tracers and administrators; the dashboards answer the rest")


def sees_in_full(caller: Caller, venue: Place | None, purpose: str | None) -> bool:
    """Whether people are shown in full (audited) rather than masked.

    In full: staff and owners of a privileged venue, at that venue; tracers who name a
    case; admins who name a purpose. Masked: everyone else, area officers included."""
    if venue is not None and venue.privileged and venue.place_id in caller.venues():
        return True
    if caller.is_admin:
        return purpose is not None
    return caller.has(Role.tracer) and bool(purpose and purpose.strip())


def guard_caller(device_id: str, venue_id: str) -> Caller:
    """A device (or a guard's session, which is a device of its venue) acts as staff there."""
    return Caller(actor=f"device:{device_id}", grants=(Grant(Role.venue_staff, venue_id=venue_id),))


def guard_sees_in_full(device_id: str, venue_id: str, privileged: bool) -> bool:
    """The guard's screen after a scan at its venue."""
    return sees_in_full(guard_caller(device_id, venue_id), Place(venue_id, "", (), privileged), None)
