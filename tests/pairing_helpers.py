"""`pipeline.pairing`'s stateful calls as the pairing tests use them: the visits they send
as `Visit` models, each read back from the bytes the worker would send (so every visit a
test looks at has passed the model's validation)."""

from __future__ import annotations

from datetime import datetime

from pipeline import pairing
from pipeline.pairing import Outcome, PersonState
from schemas.scans import ValidScan
from schemas.visits import Visit


def checked(visits: list[pairing.VisitOut]) -> list[Visit]:
    models = [v.model() for v in visits]
    assert [Visit.from_bytes(v.to_bytes()) for v in visits] == models
    return models


def apply_scan(state: PersonState, scan: ValidScan, now: datetime) -> tuple[PersonState, list[Visit], Outcome]:
    state, changed, outcome = pairing.apply_scan(state, scan, now)
    return state, checked(changed), outcome


def advance(state: PersonState, now: datetime) -> tuple[PersonState, list[Visit]]:
    state, changed = pairing.advance(state, now)
    return state, checked(changed)


def sent_visits(state: PersonState, now: datetime) -> list[Visit]:
    return checked(pairing.sent_visits(state, now))
