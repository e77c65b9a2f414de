"""`ravao up` and `ravao demo`: the embedded stack, and a province's day streamed through it."""

from __future__ import annotations

import signal
import time
from datetime import date, timedelta

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from ..settings import get_settings
from ..stack import Stack

PROVINCE = "74"  # Tỉnh Bình Dương in the 2021 data


def _start(stack: Stack, console: Console) -> None:
    with console.status("starting Kafka (the first start fetches its jars with Maven)..."):
        bootstrap = stack.start_kafka()
    console.print(f"Kafka        {bootstrap}")
    stack.start("worker", "worker", "--name", "embedded", "--loglevel", "warning")
    stack.start("sink", "sink")
    stack.start("gateway", "gateway", "--loglevel", "warning")
    stack.start("web", "web", "--loglevel", "warning")
    stack.start("alerts", "alerts")
    settings = stack.settings
    console.print(f"worker       metrics at http://127.0.0.1:{settings.worker_port}/metrics")
    console.print(f"sink         warehouse in {settings.warehouse_dir} (ravao sql / ravao trace go through it)")
    console.print(f"gateway      {settings.public_url} (OpenAPI at /openapi.json, guard page at /guard)")
    console.print(f"web          http://{settings.web_host}:{settings.web_port}/api/v1 (sign in with a phone: "
                  "its code is written to the web's log)")
    console.print("alerts       the alerting job: `ravao alerts list`, `ravao alerts status`")
    console.print(f"logs         {stack.log_dir}/")


def _run_until_interrupted(stack: Stack, console: Console, on_tick=None) -> None:
    stopping = []

    def interrupted(_signum, _frame) -> None:
        stopping.append(True)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        stack.wait_forever(2.0, on_tick, on_event=lambda line: console.print(f"[yellow]{line}[/]"))
    except KeyboardInterrupt:
        console.print("stopping...")
    finally:
        stack.stop()
        console.print("stopped; data kept in " + str(stack.settings.data_dir))


def up() -> None:
    """Start the embedded stack in the foreground: the local Kafka broker, a worker, the
    sink on the embedded warehouse, the gateway, the web (`ravao web`) and the alerting job
    (`ravao alerts`). A service that exits is started again
    (after 1 s, doubling up to a minute while it keeps failing) and the terminal says so.
    Ctrl-C stops all of it; data is kept for the next start, readable by this user only.

    Example: ravao up
    """
    console = Console()
    stack = Stack(get_settings())
    try:
        _start(stack, console)
    except BaseException:
        stack.stop()
        raise
    console.print("running; Ctrl-C stops everything")
    _run_until_interrupted(stack, console)


def demo(
    people: int = typer.Option(600, min=1, help="People in the simulated communes"),
    communes: int = typer.Option(12, min=1, help="Communes that get venues and people"),
    speed: float = typer.Option(240.0, min=0, help="Speed-up of the simulated day (240: a day in 6 minutes; "
                                "0: as fast as possible)"),
    seed: int = typer.Option(2021, help="Seed of the simulated province"),
    case_after: float = typer.Option(60.0, min=0, help="Seconds after the start at which a simulated person "
                                     "becomes a case (so that alerts appear); 0: none"),
) -> None:
    """Start the embedded stack, load Binh Duong as in the 2021 letter (province, 9
    districts, 91 communes), register venues, people and gate stations, stream yesterday's
    simulated traffic in compressed time, and show a live summary: scans per second,
    visits, dead letters by reason, tier counts read back from the warehouse, and the
    alerts of the case the demo registers after --case-after seconds.
    Ctrl-C stops everything; data is kept for the next start.

    Example: ravao demo --people 1000 --speed 600
    """
    console = Console()
    settings = get_settings()
    stack = Stack(settings)
    try:
        _start(stack, console)
        stack.start("simulator", "simulate", "--people", str(people), "--communes", str(communes),
                    "--speed", str(speed), "--seed", str(seed),
                    "--truth", str(settings.data_dir / "demo-truth.jsonl"))
    except BaseException:
        stack.stop()
        raise
    simulator = stack.services[-1]
    stack.services.remove(simulator)  # it ends by itself when the day is sent; not a failure
    summary = Summary(settings, case_after=case_after)
    console.print("streaming a simulated day; Ctrl-C stops everything")
    with Live(summary.render(), console=console, refresh_per_second=1, transient=False) as live:
        def tick() -> None:
            said = summary.maybe_register_case()
            if said:
                console.print(said)
            live.update(summary.render())

        try:
            _run_until_interrupted(stack, console, tick)
        finally:
            if simulator.process.poll() is None:
                simulator.process.terminate()
                simulator.process.wait(10)


class Summary:
    """What the demo shows, read back from Kafka (worker counters) and the warehouse."""

    def __init__(self, settings, case_after: float = 0.0) -> None:
        self.settings = settings
        self.last: tuple[float, int] | None = None
        self.rate = 0.0
        self.case_due = time.monotonic() + case_after if case_after > 0 else None
        self.case_id: str | None = None

    def render(self) -> Group:
        return Group(self._stream_table(), self._tier_table(), self._alerts_table())

    def maybe_register_case(self) -> str | None:
        """Once --case-after has passed: the busiest simulated person of the last two days
        becomes a confirmed case (as a tracer would register them), once."""
        if self.case_due is None or self.case_id is not None or time.monotonic() < self.case_due:
            return None
        from datetime import datetime, timezone

        from schemas.cases import CaseStatus

        from ..alerts.cases import CaseBook
        from ..kafka_local import bootstrap_servers
        from ..warehouse.connect import running_sink
        from ..warehouse.queries import load, run

        try:
            warehouse = running_sink(self.settings)
            if warehouse is None:
                return None
            now = datetime.now(timezone.utc)
            with warehouse:
                found = run(warehouse, load("demo_case_candidate"),
                            {"from": now - timedelta(days=2), "to": now}).dicts()
            if not found:
                return None
            book = CaseBook(self.settings, bootstrap_servers(self.settings))
            try:
                case, _ = book.register(found[0]["person_id"], now.date(), CaseStatus.confirmed,
                                        by="demo", known=lambda _p: True)
            finally:
                book.close()
        except Exception as exc:  # noqa: BLE001 - tried again at the next tick
            return f"[yellow]the demo's case is not registered yet ({type(exc).__name__})[/]"
        self.case_id = case.case_id
        return (f"registered case {case.case_id} for the busiest simulated person: see `ravao alerts list`; "
                "`ravao alerts confirm ID` sends its notifications")

    def _alerts_table(self) -> Table:
        from collections import Counter

        from ..warehouse.connect import running_sink
        from ..warehouse.queries import load, run

        table = Table(title="alerts (ravao alerts list)")
        table.add_column("kind")
        table.add_column("status")
        table.add_column("alerts", justify="right")
        try:
            warehouse = running_sink(self.settings)
            if warehouse is None:
                raise ConnectionError("the sink is starting")
            with warehouse:
                rows = run(warehouse, load("alerts_list"), {"venue": "", "area": "", "case": "", "status": ""}).dicts()
        except Exception as exc:  # noqa: BLE001 - shown, retried
            table.add_row("not yet", type(exc).__name__, "")
            return table
        for (kind, status), count in sorted(Counter((r["kind"], r["status"]) for r in rows).items()):
            table.add_row(kind, status, f"{count:,}")
        if not rows:
            table.add_row("none yet", "", "")
        return table

    def _stream_table(self) -> Table:
        from ..kafka_local import bootstrap_servers
        from ..stream.metrics import read_stats

        table = Table(title="stream (ravao stats)", show_header=True)
        table.add_column("counter")
        table.add_column("count", justify="right")
        try:
            totals = read_stats(bootstrap_servers(self.settings), self.settings)
        except Exception as exc:  # noqa: BLE001 - shown, retried next second
            table.add_row("(not yet)", type(exc).__name__)
            return table
        accepted = totals.get(("scans_accepted", ""), 0)
        now = time.monotonic()
        if self.last is not None and now > self.last[0]:
            self.rate = max(0.0, (accepted - self.last[1]) / (now - self.last[0]))
        self.last = (now, accepted)
        table.add_row("scans accepted", f"{accepted:,}  ({self.rate:,.0f}/s)")
        for (name, reason), value in sorted(totals.items()):
            if name == "scans_rejected":
                table.add_row(f"  dead letters: {reason}", f"{value:,}")
        for name in ("scans_duplicate", "scans_double", "visits_emitted", "visits_revised"):
            table.add_row(name.replace("_", " "), f"{totals.get((name, ''), 0):,}")
        return table

    def _tier_table(self) -> Table:
        from ..warehouse.connect import running_sink
        from ..warehouse.queries import load, run

        table = Table(title=f"tier counts, yesterday and today (ravao sql tier_counts -p area={PROVINCE})")
        try:
            # Only through the sink: opening the embedded warehouse here would take it
            # from the sink, which is the one process allowed to hold it.
            warehouse = running_sink(self.settings)
            if warehouse is None:
                raise ConnectionError("the sink is starting")
            today = date.today()
            with warehouse:
                result = run(warehouse, load("tier_counts"),
                             {"area": PROVINCE, "from_day": str(today - timedelta(days=1)), "to_day": str(today)})
                visits = warehouse.query("SELECT count() FROM visits FINAL WHERE NOT deleted").scalar()
        except Exception as exc:  # noqa: BLE001 - the sink may still be starting: shown, retried
            table.add_column("warehouse")
            table.add_row(f"not yet: {type(exc).__name__}")
            return table
        for column in ("area", "venues", "with scans", "scans", "entries", "exits", "declared", "symptoms", "people"):
            table.add_column(column, justify="left" if column == "area" else "right")
        for row in result.dicts():
            table.add_row(row["name"] or row["area_id"], *(f"{row[k] or 0:,}" for k in (
                "venues_registered", "venues_scanned", "scans", "entries", "exits", "scans_declared",
                "scans_with_symptoms", "people")))
        table.caption = f"visits in the warehouse: {visits:,}"
        return table

