"""How a person is shown: in full, or masked (`Nguyễn V** A*`, `098****791`).

The only place that decides it is `policy.sees_in_full`; the only place that applies it
is here. Every view of a person (a feed, a contact list, the guard's screen) goes
through `person_view` or `display_name`; a venue's owner or staff phone shown beside its
counts (the tier page's idle venues) through `contact_phone`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..privacy import mask_id_number, mask_name, mask_phone

PERSON_FIELDS = ("full_name", "phone", "id_number")


def display_name(full_name: str | None, full: bool) -> str:
    if not full_name:
        return ""
    return full_name if full else mask_name(full_name)


def person_view(record: Mapping[str, Any] | None, full: bool) -> dict[str, str]:
    """``record``: a row of `personal_data_of` (or None when the person has none)."""
    record = record or {}
    if full:
        return {name: record.get(name) or "" for name in PERSON_FIELDS}
    return {"full_name": display_name(record.get("full_name"), False),
            "phone": mask_phone(record.get("phone")),
            "id_number": mask_id_number(record.get("id_number"))}


def contact_phone(phone: str | None) -> str:
    """A venue's owner or staff phone outside the venue's own management: always masked."""
    return mask_phone(phone)
