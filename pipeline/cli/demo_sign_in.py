"""The demo's sign-ins: one account per role, on the areas and a venue of the simulated
province, so that every page of the web can be opened at once.

    sign_ins = demo_sign_ins(seed=2021, people=600, communes=12)   # the simulator's world
    ensure_accounts(settings, bootstrap, sign_ins)   # None until the registry has the areas
    print(sign_in_table(sign_ins, web_url, log_file))

The world is the simulator's (`build_world`, same seed, people and communes): the commune
officer gets the commune where most simulated people live, the district officer its
district, and the venue owner is that commune's market's owner (the registry makes that
phone an account: nothing to add). The officers, the tracer and the admin are added as
`ravao user add` adds them (`add_user`); an account that is already there as wanted is
left alone, so a restarted demo publishes nothing new.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..access.accounts import add_user
from ..access.caller import Grant, Role
from ..privacy import mask_phone
from ..registry import Registry
from ..settings import Settings

DEMO_AREAS = "binh-duong-2021"
PROVINCE = "74"  # Tỉnh Bình Dương in the 2021 data
ADDED_BY = "demo"
# Made-up numbers, one per account the demo adds; their masked forms (as the web's log
# shows them) differ in the last three digits.
PHONES = {"province": "0900000001", "district": "0900000002", "commune": "0900000003",
          "tracer": "0900000004", "admin": "0900000005"}


@dataclass(frozen=True)
class DemoSignIn:
    who: str  # as the table says it
    phone: str
    page: str  # the page to open after signing in (a path on the web)
    grant: Grant
    added: bool = True  # False: an account the registry makes (a venue's owner), not the demo

    @property
    def masked(self) -> str:
        return mask_phone(self.phone)


def demo_sign_ins(seed: int, people: int, communes: int) -> list[DemoSignIn]:
    """The officers' pages open on the simulated day (yesterday), where the scans are."""
    from producers.simulator.clock import yesterday
    from producers.simulator.world import build_world
    from schemas.registry import VenueCategory

    from ..areas import load_areas

    world = build_world(load_areas(DEMO_AREAS), random.Random(seed), people, communes)
    by_id = {a.area_id: a for a in world.areas}
    busiest = Counter(r.commune for r in world.residents).most_common(1)[0][0]
    commune = by_id[busiest]
    district = by_id[commune.parent_id] if commune.parent_id and commune.parent_id != PROVINCE else commune
    market = world.local[commune.area_id][VenueCategory.market][0].venue
    day = f"?day={yesterday().isoformat()}"
    return [
        DemoSignIn("provincial officer", PHONES["province"], f"/areas/{PROVINCE}{day}", Grant(Role.area_officer, area_id=PROVINCE)),
        DemoSignIn(f"district officer ({district.name})", PHONES["district"], f"/areas/{district.area_id}{day}",
                   Grant(Role.area_officer, area_id=district.area_id)),
        DemoSignIn(f"commune officer ({commune.name})", PHONES["commune"], f"/areas/{commune.area_id}{day}",
                   Grant(Role.area_officer, area_id=commune.area_id)),
        DemoSignIn(f"venue owner ({market.name})", market.owner_phone, f"/venues/{market.venue_id}",
                   Grant(Role.venue_owner, venue_id=market.venue_id), added=False),
        DemoSignIn("tracer", PHONES["tracer"], "/trace", Grant(Role.tracer)),
        DemoSignIn("admin", PHONES["admin"], "/ops", Grant(Role.admin)),
    ]


def ensure_accounts(settings: Settings, bootstrap: str, sign_ins: list[DemoSignIn]) -> int | None:
    """Add the accounts that are not there as wanted; the number added, or None while the
    registry lacks an area or the venue they refer to (the simulator registers them)."""
    registry = Registry(settings, bootstrap)
    try:
        areas, venues = registry.areas(), registry.venues()
        if any(s.grant.area_id and s.grant.area_id not in areas or s.grant.venue_id and s.grant.venue_id not in venues
               for s in sign_ins):
            return None
        accounts = registry.accounts()
        added = 0
        for s in sign_ins:
            have = accounts.get(s.phone)
            if not s.added or have is not None and have.active and have.grant() == s.grant:
                continue
            add_user(registry, s.phone, s.grant.role, venue_id=s.grant.venue_id, area_id=s.grant.area_id,
                     added_by=ADDED_BY)
            added += 1
        return added
    finally:
        registry.close()


def sign_in_table(sign_ins: list[DemoSignIn], web_url: str, log_file: Path, sms_gateway: bool) -> str:
    """Plain text (the same in a terminal and in a log): who, phone, the page to open, and
    where the one-time code arrives."""
    rows = [("sign in as", "phone", "page", "code")]
    for s in sign_ins:
        code = "sent by SMS" if sms_gateway else f"in the log as 'SMS to {s.masked}'"
        rows.append((s.who, s.phone, web_url + s.page, code))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    how = ("each code goes by SMS through RAVAO_SMS_URL" if sms_gateway else
           f"open a page above (it asks you to sign in first), give its phone, then find the code in {log_file} "
           f"(tail -f {log_file})")
    return "\n".join(lines + [how])
