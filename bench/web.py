"""`ravao bench web`: server time of the tier page and of the tracing console's F1 view,
p50/p99, beside the bare SQL each page is for, with the same parameters, in the same run.
Goal: page p99 under 150 ms.

1. The warehouse: the month of `bench.warehouse` (its generator, in the engine) on a
   throwaway chdb directory, plus what the pages need that the generator does not write:
   the areas (province 74, its districts, its communes) and open cases for a few people
   active in the last 14 days, as the sink lands them (its routes' rows).
2. The real app, `dashboards.web.create_app(settings, warehouse=..., sign_in=...)`, with a
   provincial officer and a tracer in an `AccountDirectory` and a session started for
   each directly (`Sessions.start`: no SMS), called in-process through
   `httpx.ASGITransport`, its lifespan run as uvicorn runs it. In-process rather than
   uvicorn on loopback: the figure is the server's (routing, the authorization layer,
   every query, the rendering), without a socket and a client competing for the same two
   cores and the GIL; an HTTP hop on loopback adds well under a millisecond.
3. Page and bare SQL alternate, request by request, so that a busy machine weighs on both.
   The bare SQL is `queries.run` of the page's main query (`tier_counts`), or
   `trace.trace` (depth 1), on the same warehouse with the same parameters; a recording
   wrapper of the warehouse checks that the page really sent that query with those
   parameters, and counts the page's time inside the warehouse (all its queries).

Usage:

    python -m bench.web --visits 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from bench.alerts import p
from bench.progress import progress
from bench.warehouse import COMMUNES, DISTRICTS, generated_month
from pipeline.settings import Settings

GOAL_MS = 150.0
PROVINCE = "74"
OFFICER, TRACER = "0901000006", "0901000003"
WINDOW_DAYS, TRACE_DAYS, MIN_OVERLAP = 30, 14, "15m"

# People active in the trace window, picked as bench.warehouse picks its cases.
PICK_PEOPLE = """
SELECT person_id FROM visits_by_person WHERE t_in >= {from:DateTime64(3, 'UTC')} GROUP BY person_id
ORDER BY cityHash64(person_id) LIMIT {n:UInt32}
"""


def written(moment: datetime) -> str:
    """A moment as the pages' URLs carry it (UTC, to the millisecond)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the two pages: their URLs, in one place (adjust here when the routes move) --------


@dataclass(frozen=True)
class Url:
    path: str
    params: dict[str, str]


def tier_url(area: str, day: date) -> Url:
    """The tier page, 30 days up to ``day``."""
    return Url(f"/areas/{area}", {"view": "days", "day": day.isoformat()})


def f1_url(person: str, case: str, start: datetime, end: datetime) -> Url:
    """The tracing console's person page with F1 contacts only."""
    return Url(f"/trace/people/{person}", {"case": case, "from": written(start), "to": written(end),
                                           "min_overlap": MIN_OVERLAP, "depth": "1"})


# -- the warehouse, recorded --------------------------------------------------------------


class RecordedWarehouse:
    """The warehouse, with each query it is sent (SQL, parameters) and the time spent in it
    while recording is on. Everything else goes straight to the warehouse."""

    def __init__(self, warehouse) -> None:
        self._warehouse = warehouse
        self.calls: list[tuple[str, dict]] | None = None
        self.seconds = 0.0

    def __getattr__(self, name: str):
        return getattr(self._warehouse, name)

    @contextmanager
    def recording(self):
        self.calls, self.seconds = [], 0.0
        try:
            yield self
        finally:
            self.calls_made, self.calls = self.calls, None

    def _timed(self, what: str, params, call: Callable[[], Any]):
        started = time.perf_counter()
        try:
            return call()
        finally:
            if self.calls is not None:
                self.seconds += time.perf_counter() - started
                self.calls.append((what, dict(params or {})))

    def query(self, sql: str, params=None):
        return self._timed(sql, params, lambda: self._warehouse.query(sql, params))

    def read_personal(self, name: str, params, **kwargs):
        return self._timed(name, params, lambda: self._warehouse.read_personal(name, params, **kwargs))


# -- 1. the warehouse -----------------------------------------------------------------------


def register(warehouse, settings: Settings, people: list[str], onset: date) -> list[str]:
    """The areas of the generated month and an open case per person, as the sink lands
    them: the records' JSON through the sink's routes. Returns the case ids."""
    from pipeline.sink.routes import routes_for
    from pipeline.topics import topics_for
    from schemas import Area, Case
    from schemas.ids import CASE, encode_int

    topics = topics_for(settings)
    routes = routes_for(topics)
    areas = [Area(area_id=PROVINCE, name="Province 74", tier="province", level=0, path=(PROVINCE,))]
    areas += [Area(area_id=str(700 + d), name=f"District {700 + d}", tier="district", level=1, parent_id=PROVINCE,
                   path=(PROVINCE, str(700 + d))) for d in range(DISTRICTS)]
    areas += [Area(area_id=str(25700 + c), name=f"Commune {25700 + c}", tier="commune", level=2,
                   parent_id=str(700 + c % DISTRICTS), path=(PROVINCE, str(700 + c % DISTRICTS), str(25700 + c)))
              for c in range(COMMUNES)]
    cases = [Case(case_id=CASE + encode_int(n + 1, 14), person_id=person, status="confirmed", onset=onset,
                  registered_by="bench") for n, person in enumerate(people)]
    for topic, records, key in ((topics.areas.name, areas, "area_id"), (topics.cases.name, cases, "case_id")):
        route = routes[topic]
        lines = [route.row(getattr(r, key).encode(), r.to_bytes(), 0, offset).line for offset, r in enumerate(records)]
        warehouse.insert_json(route.table, b"\n".join(lines), token=None)
    return [case.case_id for case in cases]


# -- 2. the app and its callers -------------------------------------------------------------


def signed_in_app(settings: Settings, warehouse):
    """The real app over ``warehouse``, and a session token for the officer and the tracer."""
    from dashboards.web import create_app
    from pipeline.access.caller import Role
    from pipeline.access.directory import AccountDirectory
    from pipeline.access.http import SignIn
    from pipeline.access.sessions import Sessions
    from schemas import Account

    directory = AccountDirectory()
    for phone, role, area in ((OFFICER, Role.area_officer, PROVINCE), (TRACER, Role.tracer, None)):
        account = Account(phone=phone, role=role, area_id=area, active=True, added_by="bench")
        directory.apply_account(phone.encode(), account.to_bytes())
    sessions = Sessions(directory, settings)
    app = create_app(settings, warehouse=warehouse, sign_in=SignIn(settings, directory, sessions=sessions))
    return app, {phone: sessions.start(phone)[0] for phone in (OFFICER, TRACER)}


@dataclass
class Measured:
    label: str
    url: Url
    page: list[float] = field(default_factory=list)
    sql: list[float] = field(default_factory=list)
    in_warehouse: list[float] = field(default_factory=list)
    page_queries: int = 0
    same_query: bool = False
    sql_params: dict = field(default_factory=dict)
    page_bytes: int = 0


async def measure(app, tokens: dict[str, str], recorded: RecordedWarehouse, pages: list[dict], requests: int,
                  bar) -> list[Measured]:
    import httpx

    from pipeline.access.http import COOKIE

    results = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        for page in pages:
            async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                         cookies={COOKIE: tokens[page["phone"]]}) as client:
                measured = Measured(page["label"], page["urls"][0])
                async def get(path: str, params: dict[str, str]) -> httpx.Response:
                    answer = await client.get(path, params=params)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")
                    return answer

                task = bar.add_task(f"{page['label']}: page and bare SQL", total=requests)
                for n in range(requests + 1):  # the first of each is a warm-up
                    url = page["urls"][n % len(page["urls"])]
                    sql, sql_params = page["sql"][n % len(page["sql"])]
                    with recorded.recording():
                        started = time.perf_counter()
                        answer = await get(url.path, url.params)
                        page_seconds = time.perf_counter() - started
                    page_calls, in_warehouse = recorded.calls_made, recorded.seconds
                    with recorded.recording():
                        started = time.perf_counter()
                        sql(recorded)
                        sql_seconds = time.perf_counter() - started
                    bare_calls = recorded.calls_made
                    if n == 0:
                        measured.same_query = all(call in page_calls for call in bare_calls)
                        measured.page_queries, measured.sql_params = len(page_calls), sql_params
                        measured.page_bytes = len(answer.content)
                        continue
                    measured.page.append(page_seconds)
                    measured.sql.append(sql_seconds)
                    measured.in_warehouse.append(in_warehouse)
                    bar.advance(task)
            results.append(measured)
    return results


def pages_for(area: str, day: date, cases: list[tuple[str, str]], start: datetime, end: datetime) -> list[dict]:
    """For each page: its URLs (one per case for the F1 view), the caller, and the bare
    SQL with the same parameters."""
    from pipeline.warehouse.queries import load, run
    from pipeline.warehouse.trace import TraceRequest, trace

    counts = {"area": area, "from_day": day - timedelta(days=WINDOW_DAYS - 1), "to_day": day}
    tier = {"label": f"tier page, province {area}, {WINDOW_DAYS} days", "phone": OFFICER,
            "urls": [tier_url(area, day)], "sql": [(lambda w: run(w, load("tier_counts"), counts), counts)]}
    f1 = {"label": f"F1 view, {TRACE_DAYS} days, {len(cases)} cases in turn", "phone": TRACER,
          "urls": [f1_url(person, case, start, end) for person, case in cases], "sql": []}
    for person, _case in cases:
        request = TraceRequest(person=person, start=start, end=end, min_overlap_seconds=900, depth=1)
        f1["sql"].append((lambda w, r=request: trace(w, r), request.params()))
    return [tier, f1]


def run(visits: int = 10_000_000, days: int = 30, cases: int = 5, requests: int = 100,
        directory: Path | None = None, quiet: bool = False) -> dict:
    from pipeline.warehouse.client import chdb_url
    from pipeline.warehouse.opened import open_url

    logging.getLogger("pipeline.warehouse.migrations").setLevel(logging.WARNING)  # a line each breaks the bar
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request: the client stays quiet
    data_dir = directory or Path(tempfile.mkdtemp(prefix="ravao-bench-web-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir, clickhouse_url=None, session_cookie_secure=False)
    end = datetime.now(timezone.utc).replace(microsecond=0, second=0, minute=0)
    start = end - timedelta(days=TRACE_DAYS)
    warehouse = open_url(chdb_url(data_dir / "warehouse"))
    figures: dict = {"visits": visits, "requests": requests}
    try:
        with progress() as bar:
            shape, step = generated_month(warehouse, visits, days, end, bar, extra_steps=1)
            started = time.perf_counter()
            people = [r[0] for r in warehouse.query(PICK_PEOPLE, {"from": start, "n": cases}).rows]
            case_ids = register(warehouse, settings, people, onset=(end - timedelta(days=1)).date())
            step("areas and cases")
            figures.update(shape, generate_s=shape["generate_s"] + time.perf_counter() - started)
            figures["slot_rows"] = warehouse.query("SELECT count() FROM visit_slots").scalar()
            recorded = RecordedWarehouse(warehouse)
            app, tokens = signed_in_app(settings, recorded)
            pages = pages_for(PROVINCE, end.date(), list(zip(people, case_ids)), start, end)
            figures["results"] = asyncio.run(measure(app, tokens, recorded, pages, requests, bar))
    finally:
        warehouse.close()
        if directory is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    if not quiet:
        report(figures)
    return figures


def report(f: dict) -> None:
    table = Table("page (server time, in-process)", "page p50", "page p99", "bare SQL p50", "bare SQL p99",
                  "page / SQL (p50, p99)", "of the page, in the warehouse (p50)", "goal: page p99 < 150 ms",
                  title=(f"web: {f['visits']:,} visits ({f['slot_rows']:,} slot rows), {f['venues']:,} venues, "
                         f"{f['persons']:,} people; generated in {f['generate_s']:.0f} s; {f['requests']} requests "
                         "per page, page and SQL alternating"))
    notes = []
    for m in f["results"]:
        page50, page99, sql50, sql99 = (x * 1000 for x in (statistics.median(m.page), p(m.page, 0.99),
                                                            statistics.median(m.sql), p(m.sql, 0.99)))
        met = "met" if page99 < GOAL_MS else "MISSED"
        table.add_row(f"{m.label}\n{m.url.path}", f"{page50:,.1f} ms", f"{page99:,.1f} ms", f"{sql50:,.1f} ms",
                      f"{sql99:,.1f} ms", f"{page50 / sql50:.1f}x, {page99 / sql99:.1f}x",
                      f"{statistics.median(m.in_warehouse) * 1000:,.1f} ms in {m.page_queries} queries",
                      f"{met} ({page99:,.0f} ms)")
        if not m.same_query:
            notes.append(f"{m.label}: the page did NOT send the bare SQL's query with its parameters")
    Console(width=200).print(table)
    for note in notes:
        Console(width=200).print(f"note: {note}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="ravao bench web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=10_000_000, help="visits to generate (a month of a province)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--cases", type=int, default=5, help="open cases the F1 view is asked for, in turn")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per page (and as many bare SQL)")
    parser.add_argument("--dir", type=Path, default=None, help="data folder (default: a temporary one)")
    args = parser.parse_args(argv)
    return run(args.visits, args.days, args.cases, args.requests, args.dir)


if __name__ == "__main__":
    main()
