"""Registering and updating cases: `ravao case ...` and `POST/PATCH /api/v1/cases`.

A case is a record on the compacted `cases` topic, keyed by its id; its latest record is
the case. The alerting job follows the topic (`pipeline.alerts.job`), the sink lands it.

    book = CaseBook(settings, bootstrap)
    case, created = book.register(person, onset, status, note, by=actor, known=lambda p: True)
    book.update(case_id, status=CaseStatus.cleared, by=actor)

Registering a person who already has an open case gives that case back (created=False)
instead of a second one: a form sent twice, or a tracer and a hospital registering the
same person, make one case. A status change or a new onset makes the job evaluate the
case again; a change of the note alone does not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

from schemas.base import utcnow
from schemas.cases import Case, CaseStatus
from schemas.ids import CASE, new_id

from ..kafka_io import ensure_topics, produce_all, reliable_producer, while_leaders_settle
from ..registry import read_latest
from ..settings import Settings
from ..topics import topics_for


class CaseError(ValueError):
    """A request about cases that cannot be done; the message says what to change."""


class UnknownCase(CaseError, LookupError):
    pass


def check_onset(onset: date, today: date, retention_days: int) -> None:
    if onset > today + timedelta(days=1):  # a day of slack for time zones
        raise CaseError(f"onset {onset} is in the future")
    if onset < today - timedelta(days=retention_days):
        raise CaseError(f"onset {onset} is older than the {retention_days} days of scans the platform keeps: "
                        "nothing would be traced")


class CaseBook:
    def __init__(self, settings: Settings, bootstrap: str | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """``bootstrap`` None: the broker of the settings, looked up at the first use (the web
        starts before the broker may be reachable)."""
        self.settings = settings
        self._bootstrap = bootstrap
        self.spec = topics_for(settings).cases
        self.clock = clock
        self._producer = None
        self._ensured = False
        # Read, decide, publish as one step: a form sent twice at once (the web's threads)
        # must find the first case, and two changes at once must both be kept. (Writers in
        # other processes are not covered: the job would evaluate both cases.)
        self._lock = threading.RLock()

    @property
    def bootstrap(self) -> str:
        if self._bootstrap is None:
            from ..kafka_local import bootstrap_servers

            self._bootstrap = bootstrap_servers(self.settings)
        return self._bootstrap

    def _ensure(self) -> None:
        if not self._ensured:
            ensure_topics(self.bootstrap, [self.spec], self.settings.topic_replication)
            self._ensured = True

    def cases(self) -> dict[str, Case]:
        self._ensure()
        # One bad record must not stop them all; a topic just created may have no leader yet.
        return while_leaders_settle(lambda: read_latest(self.bootstrap, self.spec, Case, skip_invalid=True))

    def get(self, case_id: str) -> Case:
        case = self.cases().get(case_id.strip())
        if case is None:
            raise UnknownCase(f"no case {case_id[:20]!r}: `ravao case list` shows the registered cases")
        return case

    def open_case_of(self, person_id: str) -> Case | None:
        found = [c for c in self.cases().values() if c.person_id == person_id and c.status is not CaseStatus.cleared]
        return min(found, key=lambda c: c.registered_at) if found else None

    def publish(self, case: Case) -> Case:
        self._ensure()
        if self._producer is None:
            self._producer = reliable_producer(self.bootstrap)
        produce_all(self._producer, self.spec.name, [(case.case_id.encode(), case.to_bytes())])
        return case

    def register(self, person_id: str, onset: date, status: CaseStatus, note: str = "", *, by: str,
                 known: Callable[[str], bool]) -> tuple[Case, bool]:
        """The case of ``person_id``: a new one, or the open one they have (created False)."""
        with self._lock:
            return self._register(person_id, onset, status, note, by=by, known=known)

    def _register(self, person_id: str, onset: date, status: CaseStatus, note: str, *, by: str,
                  known: Callable[[str], bool]) -> tuple[Case, bool]:
        person_id = person_id.strip()
        if status is CaseStatus.cleared:
            raise CaseError("a case is registered as confirmed or suspected; `ravao case update` clears it")
        now = self.clock()
        check_onset(onset, now.astimezone(timezone.utc).date(), self.settings.retention_days)
        existing = self.open_case_of(person_id)
        if existing is not None:
            return existing, False
        if not known(person_id):
            raise CaseError(f"no registered person {person_id[:20]!r}: check the id (`ravao person add` registers one)")
        case = Case(case_id=new_id(CASE), person_id=person_id, status=status, onset=onset, note=note,
                    registered_at=now, registered_by=by)
        return self.publish(case), True

    def update(self, case_id: str, *, by: str, status: CaseStatus | None = None, onset: date | None = None,
               note: str | None = None) -> Case:
        with self._lock:
            return self._update(case_id, by=by, status=status, onset=onset, note=note)

    def _update(self, case_id: str, *, by: str, status: CaseStatus | None, onset: date | None,
                note: str | None) -> Case:
        case = self.get(case_id)
        if status is None and onset is None and note is None:
            raise CaseError("nothing to change: give a status, an onset or a note")
        now = self.clock()
        if onset is not None:
            check_onset(onset, now.astimezone(timezone.utc).date(), self.settings.retention_days)
        changes = {k: v for k, v in (("status", status), ("onset", onset), ("note", note)) if v is not None}
        if all(getattr(case, k) == v for k, v in changes.items()):
            return case  # the same change again: nothing to publish, nothing to re-evaluate
        updated = Case.model_validate({**case.model_dump(), **changes, "updated_at": now, "updated_by": by})
        return self.publish(updated)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
