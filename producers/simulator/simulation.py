"""One simulated day, built from a seed: the world, its traffic and the expected visits."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from pipeline.areas import load_areas
from schemas.qrcode import QrCodec

from .scanning import Traffic, simulate_day
from .truth import ExpectedVisit, expected_visits
from .world import World, build_world

FORGER_SECRET = b"a-forger-does-not-have-the-key"


@dataclass
class Simulation:
    seed: int
    day: date
    world: World
    traffic: Traffic
    visits: list[ExpectedVisit]


def build_simulation(codec: QrCodec, *, day: date, people: int, seed: int = 1, areas: str = "binh-duong-2021",
                     communes: int | None = None) -> Simulation:
    """The world comes from ``seed`` alone, the day's traffic from ``seed`` and ``day``:
    the same province on another day has other scans with other event ids."""
    forger = QrCodec({codec.signing_key_id: FORGER_SECRET})  # the real key id, the wrong secret
    world = build_world(load_areas(areas), random.Random(seed), people, communes)
    traffic = simulate_day(world, day, random.Random(f"{seed}:{day.isoformat()}"), codec, forger)
    visits = expected_visits(traffic.scans, {p.venue.venue_id: p.venue for p in world.places})
    return Simulation(seed, day, world, traffic, visits)
