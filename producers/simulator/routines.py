"""Each person's day: where they truly were, and when.

A day has a fixed block for those who work or study (factory shifts of 8 hours, some
with overtime to 12.5 hours, office hours with a lunch out, a morning at school, a
hospital shift) and errands around it (the market, a shop, a restaurant, a hospital
visit). Stays last about 8 minutes or more and the way between two places about 10, so
no clock skew of the simulation can swap the order of a person's scans; two stays in
a row are never at the same venue.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime

from schemas.registry import VenueCategory

from .clock import at
from .world import Place, Resident, World

C = VenueCategory
DAY_ENDS = 21 * 60 + 45  # minutes after midnight: nobody starts an errand that ends later
# (category, shortest, longest stay in minutes, weight in the morning, weight in the evening)
ERRANDS = [(C.market, 20, 90, 5, 2), (C.shop, 8, 40, 3, 4), (C.restaurant, 30, 75, 1, 4), (C.hospital, 60, 180, 1, 0.3)]
# Factory shifts, local time (start, end in minutes after midnight) and their shares.
SHIFTS = [((6 * 60, 14 * 60), 0.42), ((14 * 60, 22 * 60), 0.30), ((7 * 60 + 30, 16 * 60 + 30), 0.20),
          ((6 * 60, 18 * 60 + 30), 0.08)]  # the last: overtime, longer than a factory's maximum stay


@dataclass(frozen=True)
class Stay:
    place: Place
    t_in: datetime
    t_out: datetime


def plan_day(resident: Resident, world: World, day: date, rng: random.Random) -> list[Stay]:
    def t(minute: float) -> datetime:
        return at(day, 0, second=int(minute * 60) + rng.randint(0, 59))

    blocks: list[tuple[Place, float, float]] = []  # (place, start, end) in minutes
    work = resident.workplace
    if resident.role == "factory_worker" and work:
        (start, end), = rng.choices([s for s, _ in SHIFTS], weights=[w for _, w in SHIFTS])
        blocks.append((work, start - rng.uniform(5, 25), end + rng.uniform(1, 15)))
    elif resident.role == "office_worker" and work:
        start, end = 7 * 60 + 30 + rng.uniform(-15, 15), 17 * 60 + rng.uniform(0, 30)
        lunch = world.nearby(resident, C.restaurant, rng)
        if lunch is not None and rng.random() < 0.5:
            noon = 11 * 60 + 30 + rng.uniform(0, 15)
            blocks += [(work, start, noon), (lunch, noon + 12, noon + 12 + rng.uniform(30, 45)),
                       (work, noon + 70, end)]
        else:
            blocks.append((work, start, end))
    elif resident.role == "student" and work:
        blocks.append((work, 6 * 60 + 40 + rng.uniform(0, 15), 11 * 60 + 10 + rng.uniform(0, 20)))
    elif resident.role == "hospital_staff" and work:
        if rng.random() < 0.6:
            blocks.append((work, 6 * 60 + 20 + rng.uniform(0, 20), 14 * 60 + 30 + rng.uniform(0, 15)))
        else:
            blocks.append((work, 13 * 60 + 50 + rng.uniform(0, 10), 21 * 60 + 40 + rng.uniform(0, 10)))

    stays: list[tuple[Place, float, float]] = []
    free_from = 6 * 60 + 30 + rng.uniform(0, 60)  # when the day's first errand may start

    def errands(count: int, until: float, next_place: Place | None) -> None:
        nonlocal free_from
        for _ in range(count):
            evening = free_from > 15 * 60
            category, shortest, longest, *_weights = rng.choices(
                ERRANDS, weights=[e[4] if evening else e[3] for e in ERRANDS])[0]
            start = free_from + rng.uniform(10, 45)
            end = start + rng.uniform(shortest, longest)
            place = world.nearby(resident, category, rng)
            if end > until or place is None:
                return
            if place in (stays[-1][0] if stays else None, next_place):
                continue  # never twice in a row at one venue
            stays.append((place, start, end))
            free_from = end

    for number, block in enumerate(blocks):
        if number == 0 and rng.random() < 0.25:
            errands(1, block[1] - 15, block[0])  # before work, e.g. the market before a late shift
        stays.append(block)
        free_from = block[2]
    errands(rng.randint(0, 2) if blocks else rng.randint(1, 3), DAY_ENDS, None)
    return [Stay(place, t(start), t(end)) for place, start, end in stays]
