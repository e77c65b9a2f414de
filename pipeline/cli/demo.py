"""`ravao up` and `ravao demo`: the embedded stack, and a province's day streamed through it."""

from __future__ import annotations

import signal
import time

import typer
from rich.console import Console
from rich.live import Live

from ..settings import get_settings
from ..stack import Stack
from .demo_sign_in import DEMO_AREAS, demo_sign_ins, ensure_accounts, sign_in_table
from .demo_summary import Summary

PLAIN_EVERY = 10.0  # seconds between the summary's plain lines when the output is not a terminal
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def web_url(settings) -> str:
    host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "::", "") else settings.web_host
    return f"http://{host}:{settings.web_port}"


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP (the terminal closed) stop the stack as Ctrl-C does: the services
    run in sessions of their own, so nothing else would stop them."""
    def interrupted(_signum, _frame) -> None:
        raise KeyboardInterrupt

    for signum in STOP_SIGNALS[1:]:
        signal.signal(signum, interrupted)


def _console() -> Console:
    console = Console()
    # In a log or a pipe, lines stay whole (rich would cut them at 80 columns).
    console.soft_wrap = not console.is_terminal
    return console


def _start(stack: Stack, console: Console) -> None:
    if console.is_terminal:
        with console.status("starting Kafka (the first start fetches its jars with Maven)..."):
            bootstrap = stack.start_kafka()
    else:
        console.print("starting Kafka (the first start fetches its jars with Maven)...")
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
    console.print(f"web          {web_url(settings)}/ (sign in with a phone: its one-time code is "
                  + ("sent through RAVAO_SMS_URL)" if settings.sms_url else f"written to {stack.log_dir / 'web.log'})"))
    console.print("alerts       the alerting job: `ravao alerts list`, `ravao alerts status`")
    console.print(f"logs         {stack.log_dir}/")


def _run_until_interrupted(stack: Stack, console: Console, on_tick=None) -> None:
    try:
        stack.wait_forever(2.0, on_tick, on_event=lambda line: console.print(f"[yellow]{line}[/]"))
    except KeyboardInterrupt:
        console.print("stopping...")
    finally:
        _stop(stack)
        console.print("stopped; data kept in " + str(stack.settings.data_dir))


def _stop(stack: Stack) -> None:
    # A second Ctrl-C must not cut the stopping short and leave services behind: each is
    # killed after its grace anyway.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    stack.stop()


def up() -> None:
    """Start the embedded stack in the foreground: the local Kafka broker, a worker, the
    sink on the embedded warehouse, the gateway, the web (`ravao web`) and the alerting job
    (`ravao alerts`). A service that exits is started again
    (after 1 s, doubling up to a minute while it keeps failing) and the terminal says so.
    Ctrl-C (or SIGTERM, or closing the terminal) stops all of it, every process each
    service started included; data is kept for the next start, readable by this user only.

    Example: ravao up
    """
    _stop_on_signals()
    console = _console()
    stack = Stack(get_settings())
    try:
        _start(stack, console)
    except BaseException:
        _stop(stack)
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

    It prints the web's URL and a sign-in for each role: accounts it adds (as `ravao user
    add` does; once) for a provincial, a district and a commune officer of the simulated
    communes, a tracer and an admin, and the owner's phone of a simulated market; each with
    the page to open (/areas/..., /venues/..., /trace, /ops) and where its one-time code
    arrives (the web's log, RAVAO_DATA_DIR/logs/web.log, unless RAVAO_SMS_URL is set).
    On a terminal the summary is a live view; in a log or a pipe, a plain line every 10 s.
    Ctrl-C (or SIGTERM) stops everything, every process the services started included;
    data is kept for the next start.

    Example: ravao demo --people 1000 --speed 600
    """
    _stop_on_signals()
    console = _console()
    settings = get_settings()
    stack = Stack(settings)
    sign_ins = demo_sign_ins(seed, people, communes)
    try:
        _start(stack, console)
        stack.start("simulator", "simulate", "--people", str(people), "--communes", str(communes),
                    "--speed", str(speed), "--seed", str(seed), "--areas", DEMO_AREAS,
                    "--truth", str(settings.data_dir / "demo-truth.jsonl"), once=True)
    except BaseException:
        _stop(stack)
        raise
    console.print("\n" + sign_in_table(sign_ins, web_url(settings), stack.log_dir / "web.log", bool(settings.sms_url))
                  + "\n", markup=False, highlight=False)
    summary = Summary(settings, case_after=case_after)
    accounts_ready = []

    def say_once_ready() -> None:
        if accounts_ready:
            return
        try:
            added = ensure_accounts(settings, stack.bootstrap, sign_ins)
        except Exception as exc:  # noqa: BLE001 - tried again at the next tick
            console.print(f"[yellow]the demo's accounts are not there yet ({type(exc).__name__})[/]")
            return
        if added is not None:
            accounts_ready.append(added)
            console.print(f"sign-in accounts ready ({added} added)" if added else
                          "sign-in accounts ready (already there: none added)")

    def tick() -> None:
        say_once_ready()
        said = summary.maybe_register_case()
        if said:
            console.print(said)

    console.print("streaming a simulated day; Ctrl-C stops everything")
    if console.is_terminal:
        with Live(summary.render(summary.read()), console=console, refresh_per_second=1, transient=False) as live:
            def live_tick() -> None:
                tick()
                live.update(summary.render(summary.read()))

            _run_until_interrupted(stack, console, live_tick)
        return
    next_line = [time.monotonic()]

    def plain_tick() -> None:
        tick()
        if time.monotonic() >= next_line[0]:
            next_line[0] = time.monotonic() + PLAIN_EVERY
            console.print(summary.line(summary.read()), markup=False, highlight=False)

    _run_until_interrupted(stack, console, plain_tick)
