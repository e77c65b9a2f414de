"""The tracing console, for the health authority's tracers (and admins):

    GET  /trace                               find a person; register a case; the cases
    POST /trace/find (q, case)                by person id, or by phone (audited): their page
    GET  /trace/find?q=&case=                 by person id only: a phone stays out of URLs
    GET  /trace/people/{person}?case=&from=&to=&min_overlap=&depth=
                                              their visits, F1 and F2 contacts, the drawing
    GET  /trace/people/{person}/contacts.csv?...  the contacts as `ravao trace --format csv`
    GET  /trace/cases/{case}                  the case's person, for the case, with the
                                              case itself, its alerts and their delivery
    POST /trace/cases                         register a case (person_id, onset, status, note)
    POST /trace/cases/{case}                  change its status, onset or note

A tracer reads people's movements for an open case, named in ``case`` (`policy`); every
name on these pages is a read in full, audited before it is made (`Reads`). The window
is `ravao trace`'s: by default from 14 days before the case's onset (or 14 days ago) to
now; a time without an offset is Vietnam time here (the form's), and the page writes the
window out with its offset, with the command line that prints the same CSV.
"""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlencode

from confluent_kafka import KafkaException
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from pipeline.access.caller import Caller
from pipeline.access.policy import Denied, require_case_management
from pipeline.alerts.cases import CaseError
from pipeline.kafka_io import DeliveryFailed
from pipeline.kafka_local import KafkaSetupError
from pipeline.warehouse.output import render as render_rows
from pipeline.warehouse.queries import QueryInputError, parse_duration, parse_time
from pipeline.warehouse.trace import TraceRequest, default_start
from schemas.cases import Case, CaseStatus
from schemas.ids import PERSON, id_pattern

from . import words
from .cases_api import CaseChange, NewCase
from .site import VIETNAM, duration, language, page_caller, render, same_origin
from .tracing_graph import layout

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

DEFAULT_MIN_OVERLAP = "15m"
DEFAULT_DEPTH = 2  # the console shows F2 too; `ravao trace` needs --depth 2 for them
DAY_WIDTH = 480  # the timeline's bar for one day, in SVG units
# The years a DateTime64 of the warehouse holds: outside them, a time is clamped (or a
# conversion overflows) instead of being read as asked.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(2300, 1, 1, tzinfo=timezone.utc)
TICKS = [(round(hour / 24 * DAY_WIDTH, 1), f"{hour:02d}") for hour in range(0, 25, 6)]  # its hour marks

# How the warehouse's words are shown: English here, Vietnamese in words/trace.json.
LABELS = {"confirmed": "Confirmed", "suspected": "Suspected", "cleared": "Cleared", "proposed": "Proposed",
          "notified": "Notified", "retracted": "Withdrawn", "scan": "scan", "inferred": "no entry scan",
          "next_scan": "scanned in elsewhere", "timeout": "past the longest stay", "open": "still inside",
          "pending": "Waiting", "sending": "Sending", "delivered": "Delivered", "failed": "Failed",
          "disabled": "Endpoint gone", "cancelled": "Cancelled", "sms": "SMS", "webhook": "Webhook",
          "venue_owner": "Venue owner", "venue_staff": "Venue staff", "area_officer": "Area officer",
          "endpoint": "Endpoint"}
NOTICES = {"registered": "The case is registered. Its movements can be read once it reaches the warehouse, "
                         "a few seconds from now: reload then.",
           "existing": "This person already has an open case: here it is.",
           "changed": "The case is changed.", "unchanged": "Nothing was changed."}


def _page(request: Request, template: str, caller: Caller, **context) -> Response:
    say = words.translator(language(request))
    return render(request, template, caller, labels={k: say(v) for k, v in LABELS.items()}, notices=NOTICES,
                  **context)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    min_overlap: str
    depth: int

    def request(self, person: str) -> TraceRequest:
        return TraceRequest(person=person, start=self.start, end=self.end,
                            min_overlap_seconds=parse_duration(self.min_overlap), depth=self.depth)

    def query(self, case: str | None) -> dict[str, str]:
        """The window as a URL's query (and the form's values), offsets written out."""
        values = {"from": written(self.start), "to": written(self.end), "min_overlap": self.min_overlap,
                  "depth": str(self.depth)}
        return {**values, "case": case} if case else values

    def command(self, person: str, case: str | None) -> str:
        """The `ravao trace` that prints the same CSV, each value quoted for a shell: an
        admin's purpose is free words (a link may carry ``; rm -rf ~`` in it), a duration
        may be written with a space."""
        args = ["ravao", "trace", person, "--from", written(self.start), "--to", written(self.end),
                "--min-overlap", self.min_overlap, "--depth", str(self.depth)]
        return shlex.join(args + (["--case", case] if case else []) + ["--format", "csv"])


def written(moment: datetime) -> str:
    """A moment in Vietnam time with its offset, as `ravao trace --from` takes it
    (``2026-03-01T08:00+07:00``), exact to the millisecond the warehouse keeps."""
    local = moment.astimezone(VIETNAM)
    spec = "milliseconds" if local.microsecond else "seconds" if local.second else "minutes"
    return local.isoformat(timespec=spec)


def written_safely(moment: datetime) -> str:
    """`written`, or the moment as it was given when Vietnam time cannot hold it (year 1, 9999)."""
    try:
        return written(moment)
    except OverflowError:
        return moment.isoformat(timespec="minutes")


def _moment(text: str, now: datetime) -> datetime:
    """`parse_time`, except that a time with no offset is Vietnam time (the form's)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return parse_time(text, now)
    return value if value.tzinfo else value.replace(tzinfo=VIETNAM)


def _window(request: Request, reads, caller: Caller, person: str, case: str | None) -> Window:
    params = request.query_params
    now = datetime.now(timezone.utc)
    start_text, end_text = params.get("from", "").strip(), params.get("to", "").strip()
    end = _moment(end_text, now) if end_text else _next_minute(now)
    start = _moment(start_text, now) if start_text else default_start(reads, caller, person, now, case)
    for moment in (start, end):
        if not EARLIEST <= moment < LATEST:  # also a year 1 or 9999 that no time zone can take
            raise QueryInputError(f"{written_safely(moment)}: a window lies between 1900 and 2299, the years the "
                                  "warehouse keeps times in")
    if end <= start:
        raise QueryInputError("the window's end must be after its start")
    min_overlap = params.get("min_overlap", DEFAULT_MIN_OVERLAP).strip() or DEFAULT_MIN_OVERLAP
    parse_duration(min_overlap)  # a clear error for "15 phút"
    depth = params.get("depth", str(DEFAULT_DEPTH)).strip()
    if depth not in ("1", "2"):
        raise QueryInputError("depth: 1 (F1 contacts) or 2 (F1 and F2)")
    return Window(start, end, min_overlap, int(depth))


def _next_minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _case_param(request: Request) -> str | None:
    return request.query_params.get("case", "").strip() or None


# --- the console's home ------------------------------------------------------------------

def _cases(request: Request) -> tuple[list[Case], str]:
    """The registered cases, newest first, and what went wrong reading them ('' if nothing)."""
    try:
        found = request.app.state.cases.cases()
    except (KafkaSetupError, KafkaException, DeliveryFailed) as exc:
        log.warning("the tracing console cannot list the cases: %s", type(exc).__name__)
        return [], "The cases cannot be listed right now: the broker does not answer. Try again shortly."
    return sorted(found.values(), key=lambda c: (c.registered_at, c.case_id), reverse=True), ""


@router.get("/trace", response_class=HTMLResponse)
def console_home(request: Request, caller: Caller = Depends(page_caller), found: str = "",
                 q: str = "", case: str = "") -> Response:
    require_case_management(caller)
    cases, trouble = _cases(request)
    # ``found`` is what `find` answered, but anyone can write an address: person ids only.
    listed = ["-"] if found == "-" else [p for p in found.split(",") if _is_person_id(p)]
    return _page(request, "trace_home.html", caller, title=words.translator(language(request))("Tracing"),
                  cases=cases, trouble=trouble, q=q, chosen_case=case.strip(), found=listed,
                  today=datetime.now(VIETNAM).date().isoformat(), statuses=list(CaseStatus))


@router.get("/trace/find")
def find_by_link(request: Request, q: str = "", case: str = "", caller: Caller = Depends(page_caller)) -> Response:
    """A person id in a link goes to its page. A phone never comes this way: it would stay
    in the browser's history and in the logs of every proxy on the way, so it is refused
    unread (the form sends it in its body, `find`)."""
    require_case_management(caller)
    wanted, case = q.strip(), case.strip()
    if not wanted:  # the way back after signing in, for a search sent when the session had ended
        return RedirectResponse("/trace" + (f"?{urlencode({'case': case})}" if case else ""), 303)
    if not _is_person_id(wanted):
        raise QueryInputError("give a person id (P and 14 letters) here; search for a phone number with the "
                              "form of the tracing page, which keeps it out of the address")
    return _to_person(wanted, case)


@router.post("/trace/find")
def find(request: Request, q: str = Form(""), case: str = Form(""), caller: Caller = Depends(page_caller)) -> Response:
    """A person id goes straight to its page; anything else is taken for a phone, looked
    up in the personal data (audited) for the case named."""
    same_origin(request)
    require_case_management(caller)
    wanted, case = q.strip(), case.strip()
    if not wanted:
        raise QueryInputError("give a person id (P...) or a phone number")
    if _is_person_id(wanted):
        return _to_person(wanted, case)
    people = request.app.state.reads.find_by_phone(caller, wanted, case or None)
    if len(people) == 1:
        return _to_person(people[0], case)
    # None, or several (a shared phone): back to the form, which says so; the phone is not
    # put in the URL (it would stay in the browser's history).
    return RedirectResponse("/trace?" + urlencode({"found": ",".join(people) or "-", "case": case}), 303)


def _to_person(person: str, case: str) -> Response:
    return RedirectResponse(f"/trace/people/{person}" + (f"?{urlencode({'case': case})}" if case else ""), 303)


def _is_person_id(text: str) -> bool:
    return re.fullmatch(id_pattern(PERSON), text) is not None


# --- a person's movements and contacts -------------------------------------------------------

def _person(person_id: str) -> str:
    if not _is_person_id(person_id.strip()):
        raise QueryInputError(f"{person_id[:20]!r} is not a person id (P and 14 letters)")
    return person_id.strip()


@router.get("/trace/people/{person_id}", response_class=HTMLResponse)
def person_page(person_id: str, request: Request, caller: Caller = Depends(page_caller)) -> Response:
    require_case_management(caller)
    return _console(request, caller, _person(person_id), _case_param(request), None)


@router.get("/trace/cases/{case_id}", response_class=HTMLResponse)
def case_page(case_id: str, request: Request, caller: Caller = Depends(page_caller)) -> Response:
    require_case_management(caller)
    case = request.app.state.cases.get(case_id)
    return _console(request, caller, case.person_id, case.case_id, case)


@router.get("/trace/people/{person_id}/contacts.csv")
def contacts_csv(person_id: str, request: Request, caller: Caller = Depends(page_caller)) -> Response:
    """Byte for byte what `ravao trace PERSON --from --to --min-overlap --depth --case
    --format csv` prints for the same window (``names=1``: with --with-names)."""
    require_case_management(caller)
    reads, person, case = request.app.state.reads, _person(person_id), _case_param(request)
    window = _window(request, reads, caller, person, case)
    result = reads.trace(caller, window.request(person), purpose=case,
                         with_names=request.query_params.get("names") == "1")
    return Response(render_rows(result, "csv"), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="contacts-{person}.csv"', "Cache-Control": "no-store"})


def _console(request: Request, caller: Caller, person: str, case_id: str | None, case: Case | None) -> Response:
    reads = request.app.state.reads
    say = words.translator(language(request))
    context = {"person_id": person, "case_id": case_id, "case": case, "statuses": list(CaseStatus),
               "today": datetime.now(VIETNAM).date().isoformat(), "notice": request.query_params.get("done", "")}
    if case is not None:
        context["alerts"] = _alerts_with_deliveries(reads, caller, case.case_id)
    title = say("Case {case}", case=case.case_id) if case else say("Person {person}", person=person)
    try:
        window = _window(request, reads, caller, person, case_id)
        visits = reads.person_visits(caller, person, window.start, window.end, case_id).dicts()
        contacts = reads.trace(caller, window.request(person), purpose=case_id, with_names=True).dicts()
        subject = reads.person_in_full(caller, person, case_id)
    except Denied as exc:
        # Said on the page, which still shows the case (cleared, or not yet in the
        # warehouse) or, without one, asks for it.
        open_cases = [c for c in _cases(request)[0] if c.status is not CaseStatus.cleared] if case is None else []
        return _page(request, "trace_person.html", caller, status=200 if case else 403, title=title,
                      refused=str(exc), open_cases=open_cases, **context)
    names = reads.venue_names([v["venue_id"] for v in visits] + [v for c in contacts for v in c["venues"]])
    ranks = _ranks(contacts)
    drawing = layout(say("The case") if case else person, contacts,
                     lambda row, rank: f"{row['degree']} {rank}: {row['full_name'] or row['person_id']}, "
                                       f"{duration(row['overlap_seconds'])}")
    return _page(request, "trace_person.html", caller, title=title, window=window,
                  form=window.query(case_id), csv_url=f"/trace/people/{person}/contacts.csv?"
                  + urlencode(window.query(case_id)), command=window.command(person, case_id), subject=subject,
                  days=_days(visits), visit_count=len(visits), ticks=TICKS, venues=names, contacts=contacts, ranks=ranks,
                  drawing=drawing, refused="", **context)


def _ranks(contacts: list[dict]) -> dict[str, str]:
    """Each contact's label on the page: ``F1 3``, ``F2 1`` (its row in its table)."""
    ranks: dict[str, str] = {}
    counters = {"F1": 0, "F2": 0}
    for contact in contacts:
        counters[contact["degree"]] += 1
        ranks[contact["person_id"]] = f"{contact['degree']} {counters[contact['degree']]}"
    return ranks


def _days(visits: list[dict]) -> list[tuple[date, list[dict]]]:
    """The visits by Vietnam day, each with its bar on the day's 24 hours (``x``, ``width``;
    a visit past midnight is drawn to the end of its first day)."""
    days: dict[date, list[dict]] = {}
    for visit in visits:
        t_in = _utc(visit["t_in"]).astimezone(VIETNAM)
        t_out = _utc(visit["t_out"]).astimezone(VIETNAM)
        midnight = t_in.replace(hour=0, minute=0, second=0, microsecond=0)
        start = (t_in - midnight).total_seconds() / 86400
        end = min((t_out - midnight).total_seconds() / 86400, 1.0)
        days.setdefault(t_in.date(), []).append({**visit, "x": round(start * DAY_WIDTH, 1),
                                                 "width": max(round((end - start) * DAY_WIDTH, 1), 2.0),
                                                 "past_midnight": t_out.date() != t_in.date()})
    return sorted(days.items())


def _utc(value: str | datetime) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _alerts_with_deliveries(reads, caller: Caller, case_id: str) -> list[dict]:
    alerts = reads.alerts(caller, case=case_id).dicts()
    deliveries: dict[str, list[dict]] = {}
    for row in reads.alert_deliveries(caller, [a["alert_id"] for a in alerts]).dicts():
        deliveries.setdefault(row["alert_id"], []).append(row)
    return [{**alert, "deliveries": deliveries.get(alert["alert_id"], [])} for alert in alerts]


# --- registering and changing cases ------------------------------------------------------------

def _form_error(exc: ValidationError) -> CaseError:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return CaseError(f"{where}: {first.get('msg', 'not valid')}")


@router.post("/trace/cases")
def register_case(request: Request, person_id: str = Form(""), onset: str = Form(""), status: str = Form(""),
                  note: str = Form(""), caller: Caller = Depends(page_caller)) -> Response:
    same_origin(request)
    require_case_management(caller)
    try:
        body = NewCase(person_id=person_id, onset=onset, status=status, note=note)
    except ValidationError as exc:
        raise _form_error(exc) from None
    case, created = request.app.state.cases.register(body.person_id, body.onset, body.status, body.note,
                                                     by=caller.actor, known=request.app.state.reads.person_known)
    return RedirectResponse(f"/trace/cases/{case.case_id}?done={'registered' if created else 'existing'}", 303)


@router.post("/trace/cases/{case_id}")
def change_case(case_id: str, request: Request, status: str = Form(""), onset: str = Form(""),
                note: str | None = Form(None), caller: Caller = Depends(page_caller)) -> Response:
    same_origin(request)
    require_case_management(caller)
    book = request.app.state.cases
    current = book.get(case_id)
    try:
        change = CaseChange(status=status or None, onset=onset or None,
                            note=note if note is not None and note.strip() != current.note else None)
    except ValidationError as exc:
        raise _form_error(exc) from None
    # The form sends the status and onset as shown, changed or not: only a difference is a change.
    change = change.model_copy(update={"status": None if change.status == current.status else change.status,
                                       "onset": None if change.onset == current.onset else change.onset})
    if change.status is None and change.onset is None and change.note is None:
        return RedirectResponse(f"/trace/cases/{current.case_id}?done=unchanged", 303)
    book.update(current.case_id, by=caller.actor, status=change.status, onset=change.onset, note=change.note)
    return RedirectResponse(f"/trace/cases/{current.case_id}?done=changed", 303)
