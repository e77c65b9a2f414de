"""Case management at its worst, on a real broker: a form sent twice at once, two
tracers changing one case at once, and a record on `cases` that is not a case."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone

import pytest

from pipeline.alerts.cases import CaseBook
from pipeline.alerts.decisions import confirm
from pipeline.kafka_io import produce_all, reliable_producer
from pipeline.settings import Settings
from pipeline.topics import Topics
from schemas.cases import CaseStatus
from schemas.ids import PERSON, new_id

pytestmark = pytest.mark.kafka


def at_once(*calls) -> list:
    """Run the calls on threads released together; their results (or exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(n: int, call) -> None:
        barrier.wait()
        try:
            results[n] = call()
        except Exception as exc:  # noqa: BLE001 (the test looks at it)
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_a_form_sent_twice_at_once_registers_one_case(settings: Settings, topics: Topics) -> None:
    book = CaseBook(settings, settings.kafka_bootstrap)
    person = new_id(PERSON)
    try:
        book.cases()  # the topic exists, as on a running web
        onset = datetime.now(timezone.utc).date()
        first, second = at_once(
            *[lambda: book.register(person, onset, CaseStatus.confirmed, by="tracer:a", known=lambda p: True)] * 2)
        assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
        assert first[0].case_id == second[0].case_id
        assert sorted([first[1], second[1]]) == [False, True]
        assert [c.person_id for c in book.cases().values()] == [person]
    finally:
        book.close()


def test_two_changes_to_one_case_at_once_are_both_kept(settings: Settings, topics: Topics) -> None:
    book = CaseBook(settings, settings.kafka_bootstrap)
    try:
        today = datetime.now(timezone.utc).date()
        case, _ = book.register(new_id(PERSON), today, CaseStatus.suspected, by="tracer:a", known=lambda p: True)
        earlier = date.fromordinal(today.toordinal() - 3)
        results = at_once(lambda: book.update(case.case_id, status=CaseStatus.confirmed, by="tracer:a"),
                          lambda: book.update(case.case_id, onset=earlier, by="tracer:b"))
        assert not any(isinstance(r, Exception) for r in results), results
        latest = book.get(case.case_id)
        assert (latest.status, latest.onset) == (CaseStatus.confirmed, earlier)
    finally:
        book.close()


def test_a_record_on_cases_that_is_not_a_case_does_not_stop_case_management(settings: Settings,
                                                                             topics: Topics) -> None:
    produce_all(reliable_producer(settings.kafka_bootstrap), topics.cases.name,
                [(b"junk", b"\x00 not json"), (b"\xff\xfe", b'{"case_id": "C"}'), (b"\xfe", None)])
    produce_all(reliable_producer(settings.kafka_bootstrap), topics.alerts.name, [(b"junk", b"{}")])
    book = CaseBook(settings, settings.kafka_bootstrap)
    try:
        case, created = book.register(new_id(PERSON), datetime.now(timezone.utc).date(), CaseStatus.confirmed,
                                      by="tracer:a", known=lambda p: True)
        assert created and list(book.cases()) == [case.case_id]
    finally:
        book.close()
    from pipeline.alerts.cases import CaseError
    import uuid
    with pytest.raises(CaseError):  # an unknown alert, said so; not a traceback
        confirm(settings, settings.kafka_bootstrap, uuid.uuid4(), "tracer:a")
