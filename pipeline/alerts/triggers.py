"""When the alerting job evaluates a case again (see `pipeline.alerts.job`).

    Pending    a case to evaluate: when, why, which visits must be landed first
    Triggers   whose visits, and which venues' visits, can change which open case

A visit marks a case when it is the case's own, when it lies at one of the case's venues
within the time the case was there, or, with F2, when it is an F1 contact's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from schemas.cases import Case, CaseStatus
from schemas.visits import Visit

from .evaluate import Evaluation

SETTLE_SECONDS = 1.0  # a re-check waits this long after the latest visit that asked for it
# A case the warehouse cannot answer for yet (it lands within the sink's batch time of its
# registration; the sink may be restarting): tried again every 0.2 s for the first two
# seconds, then after a pause doubling up to 30 s.
RETRY_SECONDS = 0.2
QUICK_TRIES = 10
RETRY_MAX_SECONDS = 30.0


@dataclass
class Pending:
    """A case to evaluate: when, why, and which visits the warehouse must have first."""

    due: float
    reason: str
    initial: bool = False  # found while catching up with `cases` at start
    needs: dict[int, int] = field(default_factory=dict)  # visits partition -> next offset that must be landed
    tries: int = 0  # evaluations the warehouse could not answer yet

    def retry_in(self) -> float:
        return min(RETRY_MAX_SECONDS, RETRY_SECONDS * 2 ** max(0, self.tries - QUICK_TRIES))


@dataclass
class Triggers:
    by_person: dict[str, set[str]]  # person -> the open cases a visit of theirs can change
    by_venue: dict[str, list[tuple[str, datetime, datetime]]]  # venue -> (case, first, last) there

    @classmethod
    def of(cls, cases: dict[str, Case], evaluations: dict[str, Evaluation], depth: int) -> "Triggers":
        by_person: dict[str, set[str]] = {}
        by_venue: dict[str, list] = {}
        for case_id, case in cases.items():
            if case.status is CaseStatus.cleared:
                continue
            by_person.setdefault(case.person_id, set()).add(case_id)
            evaluation = evaluations.get(case_id)
            if evaluation is None:
                continue
            for venue, there in evaluation.presence.items():
                by_venue.setdefault(venue, []).append((case_id, there.first, there.last))
            if depth >= 2:
                for contact in evaluation.contacts.values():
                    if contact.degree == 1:
                        by_person.setdefault(contact.person_id, set()).add(case_id)
        return cls(by_person, by_venue)

    def marked_by(self, visit: Visit) -> set[str]:
        """The open cases whose answer this visit can change."""
        marked = set(self.by_person.get(visit.person_id, ()))
        for case_id, first, last in self.by_venue.get(visit.venue_id, ()):
            if visit.t_in < last and visit.t_out > first:
                marked.add(case_id)
        return marked
